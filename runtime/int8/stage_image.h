/* A stage image: an int8 graph as one flat byte array that a device with no file system and no
 * heap can run in place (`cleavectl model export-c` writes one as a const C array in flash; the
 * MCU agent will also receive them over its serial link). Everything is little-endian 32-bit
 * words, tensors are NHWC and live at fixed offsets of one arena the caller provides. The
 * stage's inputs and outputs are NHWC too: a sender holding an NCHW tensor transposes it (a
 * camera's HWC pixels need nothing), and between two stage images the bytes pass as they are.
 *
 *   header      8 words: magic "CLV8", version, total bytes, arena bytes, and the counts of
 *               tensors, ops, inputs and outputs
 *   tensors     8 words each: type (0 int8, 1 float32), n, h, w, c, arena offset, scale (float
 *               bits), zero point
 *   inputs      one word each: a tensor index; then outputs likewise
 *   ops         16 words each: kind, three input tensor indices (CLEAVE_Q_NONE when unused), the
 *               output tensor, the byte offset of the op's constants in the image, ten parameters
 *   constants   per op, 4-byte aligned: a convolution's or fully connected layer's int8 weights
 *               ([out][kernel h][kernel w][in / groups]), int32 bias (when it has one), int32
 *               multipliers and int32 shifts (one per output channel)
 *
 * cleave_q_stage_check validates every count, index, offset and length against the image's size
 * and the arena before anything reads them, so a corrupt or hostile image is refused, never run. */
#ifndef CLEAVE_INT8_STAGE_IMAGE_H
#define CLEAVE_INT8_STAGE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLEAVE_Q_STAGE_MAGIC 0x38564c43u /* "CLV8" */
#define CLEAVE_Q_STAGE_VERSION 1u
#define CLEAVE_Q_NONE 0xffffffffu
#define CLEAVE_Q_HEADER_WORDS 8
#define CLEAVE_Q_TENSOR_WORDS 8
#define CLEAVE_Q_OP_WORDS 16
#define CLEAVE_Q_OP_PARAMS 10

enum cleave_q_tensor_type { CLEAVE_Q_INT8 = 0, CLEAVE_Q_FLOAT32 = 1 };

/* Op kinds and their parameters (params[i]). */
enum cleave_q_op_kind {
  /* params: kernel h, kernel w, stride h, stride w, dilation h, dilation w, pad top, pad left,
   * groups, has bias */
  CLEAVE_Q_OP_CONV = 1,
  /* params: has bias. Input [n,1,1,in] (or any shape of rows x in), output [n,1,1,out]. */
  CLEAVE_Q_OP_FULLY_CONNECTED = 2,
  /* params: input1 multiplier, input1 shift, input2 multiplier, input2 shift, output multiplier,
   * output shift (zero points come from the tensors) */
  CLEAVE_Q_OP_ADD = 3,
  /* params: multiplier, shift */
  CLEAVE_Q_OP_MUL = 4,
  /* params: kernel h, kernel w, stride h, stride w, pad top, pad left */
  CLEAVE_Q_OP_MAX_POOL = 5,
  CLEAVE_Q_OP_AVERAGE_POOL = 6,
  /* float32 -> int8 and back at the tensors' scales and zero points */
  CLEAVE_Q_OP_QUANTIZE = 7,
  CLEAVE_Q_OP_DEQUANTIZE = 8,
  /* a copy between tensors of one element count (Flatten/Reshape where NHWC and NCHW agree) */
  CLEAVE_Q_OP_COPY = 9,
  /* two int8 tensors joined along channels (NHWC's last axis), each moved to the output's scale
   * unless it shares it. params: input1 multiplier, input1 shift, input2 multiplier, input2 shift,
   * copy flags (bit 0: input1 is copied as it is, bit 1: input2). More inputs are chained. */
  CLEAVE_Q_OP_CONCAT = 10
};

typedef struct {
  uint32_t arena_bytes;
  uint32_t tensor_count, op_count, input_count, output_count;
} cleave_q_stage_info;

/* 0 when `image` (`size` bytes) is a valid stage image; otherwise a negative code whose meaning
 * cleave_q_stage_error gives. Fills `info` on success. */
int cleave_q_stage_check(const uint8_t *image, size_t size, cleave_q_stage_info *info);
const char *cleave_q_stage_error(int code);

/* Where input or output `index` lives in `arena` and how many bytes it has (0 when there is no
 * such tensor). Only for a checked image. */
uint8_t *cleave_q_stage_tensor(const uint8_t *image, uint8_t *arena, int output, uint32_t index, uint32_t *bytes);

/* Runs a checked image's ops in order; `arena` holds info.arena_bytes bytes, 4-byte aligned,
 * with the inputs written in place. */
void cleave_q_stage_run(const uint8_t *image, uint8_t *arena);

#ifdef __cplusplus
}
#endif

#endif
