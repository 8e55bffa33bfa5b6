#include "runtime/int8/stage_image.h"

#include <string.h>

#include "runtime/int8/kernels.h"

/* The image stores shifts as int32 and the kernels read them as int. */
typedef char cleave_q_int_is_32_bits[sizeof(int) == 4 ? 1 : -1];

enum {
  ERR_SIZE = -1,
  ERR_MAGIC = -2,
  ERR_VERSION = -3,
  ERR_TABLES = -4,
  ERR_TENSOR = -5,
  ERR_ARENA = -6,
  ERR_INDEX = -7,
  ERR_OP_KIND = -8,
  ERR_OP_SHAPE = -9,
  ERR_OP_DATA = -10,
  ERR_OP_PARAMS = -11,
  ERR_ALIGNMENT = -12,
  ERR_OVERLAP = -13
};

const char *cleave_q_stage_error(int code) {
  switch (code) {
    case 0: return "ok";
    case ERR_SIZE: return "image shorter than its header or than the size it declares";
    case ERR_MAGIC: return "not a stage image (magic)";
    case ERR_VERSION: return "unsupported stage image version";
    case ERR_TABLES: return "tables run past the image";
    case ERR_TENSOR: return "tensor with a bad type or an empty dimension";
    case ERR_ARENA: return "tensor outside the arena";
    case ERR_INDEX: return "tensor index out of range";
    case ERR_OP_KIND: return "unknown op kind";
    case ERR_OP_SHAPE: return "op whose tensors' types or shapes do not fit it";
    case ERR_OP_DATA: return "op constants outside the image";
    case ERR_OP_PARAMS: return "op parameter out of range";
    case ERR_ALIGNMENT: return "image or offset not 4-byte aligned";
    case ERR_OVERLAP: return "op output overlapping one of its inputs in the arena";
    default: return "unknown error";
  }
}

typedef struct {
  uint32_t type, n, h, w, c, offset;
  float scale;
  int32_t zero_point;
} tensor_t;

static uint32_t word(const uint8_t *image, uint64_t index) {
  uint32_t v;
  memcpy(&v, image + 4 * index, 4); /* little-endian hosts and targets (x86, Arm) */
  return v;
}

static uint64_t tensors_at(void) { return CLEAVE_Q_HEADER_WORDS; }
static uint64_t inputs_at(const uint8_t *image) { return tensors_at() + (uint64_t)word(image, 4) * CLEAVE_Q_TENSOR_WORDS; }
static uint64_t outputs_at(const uint8_t *image) { return inputs_at(image) + word(image, 6); }
static uint64_t ops_at(const uint8_t *image) { return outputs_at(image) + word(image, 7); }

static tensor_t tensor_of(const uint8_t *image, uint32_t index) {
  const uint64_t at = tensors_at() + (uint64_t)index * CLEAVE_Q_TENSOR_WORDS;
  tensor_t t;
  uint32_t scale_bits = word(image, at + 6);
  t.type = word(image, at);
  t.n = word(image, at + 1);
  t.h = word(image, at + 2);
  t.w = word(image, at + 3);
  t.c = word(image, at + 4);
  t.offset = word(image, at + 5);
  memcpy(&t.scale, &scale_bits, 4);
  t.zero_point = (int32_t)word(image, at + 7);
  return t;
}

static uint64_t elements(const tensor_t *t) { return (uint64_t)t->n * t->h * t->w * t->c; }
static uint64_t bytes_of(const tensor_t *t) { return elements(t) * (t->type == CLEAVE_Q_FLOAT32 ? 4u : 1u); }
static uint64_t round4(uint64_t n) { return (n + 3) / 4 * 4; }

typedef struct {
  uint32_t kind, in[3], out, data;
  int32_t p[CLEAVE_Q_OP_PARAMS];
} op_t;

static op_t op_of(const uint8_t *image, uint32_t index) {
  const uint64_t at = ops_at(image) + (uint64_t)index * CLEAVE_Q_OP_WORDS;
  op_t op;
  int i;
  op.kind = word(image, at);
  for (i = 0; i < 3; ++i) op.in[i] = word(image, at + 1 + i);
  op.out = word(image, at + 4);
  op.data = word(image, at + 5);
  for (i = 0; i < CLEAVE_Q_OP_PARAMS; ++i) op.p[i] = (int32_t)word(image, at + 6 + i);
  return op;
}

/* Bytes of an op's constants: weights (padded to 4), bias, multipliers and shifts. */
static uint64_t weighted_data_bytes(uint64_t weights, uint64_t channels, int has_bias) {
  return round4(weights) + (has_bias ? 4 * channels : 0) + 8 * channels;
}

/* An accumulator starts at its bias and adds up to `depth` products of at most 255 * 128: with
 * depth <= 2^15 and |bias| <= 2^30 it stays inside int32 for any inputs. */
#define MAX_DEPTH 32768u
#define MAX_BIAS 1073741824

static int biases_in_range(const uint8_t *image, uint64_t first_word, uint64_t count) {
  uint64_t i;
  for (i = 0; i < count; ++i) {
    const int32_t bias = (int32_t)word(image, first_word + i);
    if (bias < -MAX_BIAS || bias > MAX_BIAS) return 0;
  }
  return 1;
}

static int shifts_in_range(const uint8_t *image, uint64_t first_word, uint64_t count) {
  uint64_t i;
  for (i = 0; i < count; ++i) {
    const int32_t shift = (int32_t)word(image, first_word + i);
    if (shift < -31 || shift > 30) return 0;
  }
  return 1;
}

static int overlaps(const tensor_t *a, const tensor_t *b) {
  return (uint64_t)a->offset < b->offset + bytes_of(b) && (uint64_t)b->offset < a->offset + bytes_of(a);
}

static int pool_output_fits(uint32_t in, uint32_t out, int32_t kernel, int32_t stride, int32_t pad) {
  /* every window starts inside the padded input and covers at least one real element */
  return kernel >= 1 && kernel <= 65535 && stride >= 1 && stride <= 64 && pad >= 0 && pad < kernel &&
         (int64_t)(out - 1) * stride - pad < (int64_t)in && out >= 1;
}

static int check_op(const uint8_t *image, uint64_t total, uint32_t tensors, const op_t *op) {
  tensor_t in[3], out;
  int inputs = 0, i;
  for (i = 0; i < 3; ++i) {
    if (op->in[i] == CLEAVE_Q_NONE) break;
    if (op->in[i] >= tensors) return ERR_INDEX;
    in[i] = tensor_of(image, op->in[i]);
    ++inputs;
  }
  if (op->out >= tensors) return ERR_INDEX;
  out = tensor_of(image, op->out);
  for (i = 0; i < inputs; ++i)
    if (overlaps(&in[i], &out)) return ERR_OVERLAP;
  if (op->data % 4 != 0) return ERR_ALIGNMENT;

  switch (op->kind) {
    case CLEAVE_Q_OP_CONV: {
      /* The kernel skips taps outside the input, so any output size reads only the input. */
      const int32_t kh = op->p[0], kw = op->p[1], sh = op->p[2], sw = op->p[3], dh = op->p[4], dw = op->p[5];
      const int32_t pt = op->p[6], pl = op->p[7], groups = op->p[8];
      uint64_t weights, need;
      if (inputs != 1 || in[0].type != CLEAVE_Q_INT8 || out.type != CLEAVE_Q_INT8) return ERR_OP_SHAPE;
      if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1 || pt < 0 || pl < 0 || groups < 1 ||
          kh > 64 || kw > 64 || dh > 64 || dw > 64 || sh > 64 || sw > 64 || pt > 64 || pl > 64)
        return ERR_OP_PARAMS;
      if (in[0].c % (uint32_t)groups != 0 || out.c % (uint32_t)groups != 0 || in[0].n != out.n) return ERR_OP_SHAPE;
      weights = (uint64_t)out.c * kh * kw * (in[0].c / (uint32_t)groups);
      need = weighted_data_bytes(weights, out.c, op->p[9] != 0);
      if ((uint64_t)op->data + need > total) return ERR_OP_DATA;
      if ((uint64_t)kh * kw * (in[0].c / (uint32_t)groups) > MAX_DEPTH) return ERR_OP_PARAMS;
      if (op->p[9] && !biases_in_range(image, (op->data + round4(weights)) / 4, out.c)) return ERR_OP_PARAMS;
      if (!shifts_in_range(image, (op->data + need) / 4 - out.c, out.c)) return ERR_OP_PARAMS;
      return 0;
    }
    case CLEAVE_Q_OP_FULLY_CONNECTED: {
      const uint64_t rows = (uint64_t)in[0].n * in[0].h * in[0].w;
      uint64_t need;
      if (inputs != 1 || in[0].type != CLEAVE_Q_INT8 || out.type != CLEAVE_Q_INT8) return ERR_OP_SHAPE;
      if ((uint64_t)out.n * out.h * out.w != rows) return ERR_OP_SHAPE;
      need = weighted_data_bytes((uint64_t)out.c * in[0].c, out.c, op->p[0] != 0);
      if ((uint64_t)op->data + need > total) return ERR_OP_DATA;
      if (in[0].c > MAX_DEPTH) return ERR_OP_PARAMS;
      if (op->p[0] && !biases_in_range(image, (op->data + round4((uint64_t)out.c * in[0].c)) / 4, out.c))
        return ERR_OP_PARAMS;
      if (!shifts_in_range(image, (op->data + need) / 4 - out.c, out.c)) return ERR_OP_PARAMS;
      return 0;
    }
    case CLEAVE_Q_OP_ADD:
    case CLEAVE_Q_OP_MUL: {
      const int shifts = op->kind == CLEAVE_Q_OP_ADD ? 3 : 1;
      if (inputs != 2 || in[0].type != CLEAVE_Q_INT8 || in[1].type != CLEAVE_Q_INT8 || out.type != CLEAVE_Q_INT8)
        return ERR_OP_SHAPE;
      if (elements(&in[0]) != elements(&out) || elements(&in[1]) != elements(&out)) return ERR_OP_SHAPE;
      for (i = 0; i < shifts; ++i)
        if (op->p[2 * i + 1] < -31 || op->p[2 * i + 1] > 30 || op->p[2 * i] < 0) return ERR_OP_PARAMS;
      /* An Add's inputs are scaled down to the common scale (cleave_q_add_prepare), so the sum of
       * two shifted int8 values stays far inside int32. */
      if (op->kind == CLEAVE_Q_OP_ADD && (op->p[1] > 0 || op->p[3] > 0)) return ERR_OP_PARAMS;
      return 0;
    }
    case CLEAVE_Q_OP_MAX_POOL:
    case CLEAVE_Q_OP_AVERAGE_POOL:
      if (inputs != 1 || in[0].type != CLEAVE_Q_INT8 || out.type != CLEAVE_Q_INT8) return ERR_OP_SHAPE;
      if (in[0].n != out.n || in[0].c != out.c) return ERR_OP_SHAPE;
      if (!pool_output_fits(in[0].h, out.h, op->p[0], op->p[2], op->p[4]) ||
          !pool_output_fits(in[0].w, out.w, op->p[1], op->p[3], op->p[5]))
        return ERR_OP_PARAMS;
      if ((int64_t)op->p[0] * op->p[1] > (1 << 23)) return ERR_OP_PARAMS; /* an average's int32 sum */
      return 0;
    case CLEAVE_Q_OP_QUANTIZE:
    case CLEAVE_Q_OP_DEQUANTIZE:
      if (inputs != 1 || elements(&in[0]) != elements(&out)) return ERR_OP_SHAPE;
      if (op->kind == CLEAVE_Q_OP_QUANTIZE ? in[0].type != CLEAVE_Q_FLOAT32 || out.type != CLEAVE_Q_INT8
                                           : in[0].type != CLEAVE_Q_INT8 || out.type != CLEAVE_Q_FLOAT32)
        return ERR_OP_SHAPE;
      if (!(in[0].scale > 0.0f) || !(out.scale > 0.0f)) return ERR_OP_PARAMS;
      return 0;
    case CLEAVE_Q_OP_COPY:
      if (inputs != 1 || in[0].type != out.type || elements(&in[0]) != elements(&out)) return ERR_OP_SHAPE;
      return 0;
    case CLEAVE_Q_OP_CONCAT:
      if (inputs != 2 || in[0].type != CLEAVE_Q_INT8 || in[1].type != CLEAVE_Q_INT8 || out.type != CLEAVE_Q_INT8)
        return ERR_OP_SHAPE;
      for (i = 0; i < 2; ++i)
        if (in[i].n != out.n || in[i].h != out.h || in[i].w != out.w) return ERR_OP_SHAPE;
      if ((uint64_t)in[0].c + in[1].c != out.c) return ERR_OP_SHAPE;
      if (op->p[1] < -31 || op->p[1] > 30 || op->p[3] < -31 || op->p[3] > 30 || op->p[0] < 0 || op->p[2] < 0)
        return ERR_OP_PARAMS;
      return 0;
    default: return ERR_OP_KIND;
  }
}

int cleave_q_stage_check(const uint8_t *image, size_t size, cleave_q_stage_info *info) {
  uint64_t total, end, i;
  uint32_t tensors, ops;
  if (((uintptr_t)image) % 4 != 0) return ERR_ALIGNMENT;
  if (size < 4 * CLEAVE_Q_HEADER_WORDS) return ERR_SIZE;
  if (word(image, 0) != CLEAVE_Q_STAGE_MAGIC) return ERR_MAGIC;
  if (word(image, 1) != CLEAVE_Q_STAGE_VERSION) return ERR_VERSION;
  total = word(image, 2);
  if (total > size || total < 4 * CLEAVE_Q_HEADER_WORDS) return ERR_SIZE;
  tensors = word(image, 4);
  ops = word(image, 5);
  end = CLEAVE_Q_HEADER_WORDS + (uint64_t)tensors * CLEAVE_Q_TENSOR_WORDS + word(image, 6) + word(image, 7) +
        (uint64_t)ops * CLEAVE_Q_OP_WORDS;
  if (4 * end > total) return ERR_TABLES;
  for (i = 0; i < tensors; ++i) {
    const tensor_t t = tensor_of(image, (uint32_t)i);
    if (t.type > CLEAVE_Q_FLOAT32 || t.n == 0 || t.h == 0 || t.w == 0 || t.c == 0) return ERR_TENSOR;
    if (t.offset % 4 != 0) return ERR_ALIGNMENT;
    /* Bounds that keep every index the kernels compute (oy * stride + ky * dilation, ...) in int32. */
    if (t.h > 65535 || t.w > 65535 || t.n > 65535 || t.c > 16777216) return ERR_TENSOR;
    if ((uint64_t)t.offset + bytes_of(&t) > word(image, 3)) return ERR_ARENA;
    /* The kernels subtract an int8 tensor's zero point in 32-bit arithmetic. */
    if (t.type == CLEAVE_Q_INT8 && (t.zero_point < -128 || t.zero_point > 127)) return ERR_TENSOR;
  }
  for (i = inputs_at(image); i < ops_at(image); ++i)
    if (word(image, i) >= tensors) return ERR_INDEX;
  for (i = 0; i < ops; ++i) {
    const op_t op = op_of(image, (uint32_t)i);
    const int status = check_op(image, total, tensors, &op);
    if (status != 0) return status;
  }
  if (info) {
    info->arena_bytes = word(image, 3);
    info->tensor_count = tensors;
    info->op_count = ops;
    info->input_count = word(image, 6);
    info->output_count = word(image, 7);
  }
  return 0;
}

uint8_t *cleave_q_stage_tensor(const uint8_t *image, uint8_t *arena, int output, uint32_t index, uint32_t *bytes) {
  const uint32_t count = word(image, output ? 7 : 6);
  tensor_t t;
  if (index >= count) {
    *bytes = 0;
    return 0;
  }
  t = tensor_of(image, word(image, (output ? outputs_at(image) : inputs_at(image)) + index));
  *bytes = (uint32_t)bytes_of(&t);
  return arena + t.offset;
}

static cleave_q_requant requant_from(const uint8_t *image, uint64_t at, uint32_t channels, int32_t zero_point) {
  cleave_q_requant r;
  r.multiplier = (const int32_t *)(const void *)(image + at);
  r.shift = (const int *)(const void *)(image + at + 4u * channels);
  r.output_zero_point = zero_point;
  r.activation_min = -128;
  r.activation_max = 127;
  return r;
}

static cleave_q_pool_shape pool_shape(const op_t *op, const tensor_t *in, const tensor_t *out) {
  cleave_q_pool_shape s;
  s.batch = (int32_t)in->n;
  s.in_height = (int32_t)in->h;
  s.in_width = (int32_t)in->w;
  s.channels = (int32_t)in->c;
  s.out_height = (int32_t)out->h;
  s.out_width = (int32_t)out->w;
  s.kernel_height = op->p[0];
  s.kernel_width = op->p[1];
  s.stride_height = op->p[2];
  s.stride_width = op->p[3];
  s.pad_top = op->p[4];
  s.pad_left = op->p[5];
  s.activation_min = -128;
  s.activation_max = 127;
  return s;
}

void cleave_q_stage_run(const uint8_t *image, uint8_t *arena) {
  const uint32_t ops = word(image, 5);
  uint32_t k;
  for (k = 0; k < ops; ++k) {
    const op_t op = op_of(image, k);
    const tensor_t out = tensor_of(image, op.out);
    const tensor_t in = tensor_of(image, op.in[0]);
    void *y = arena + out.offset;
    const void *x = arena + in.offset;
    switch (op.kind) {
      case CLEAVE_Q_OP_CONV: {
        const uint64_t weights = (uint64_t)out.c * op.p[0] * op.p[1] * (in.c / (uint32_t)op.p[8]);
        const int has_bias = op.p[9] != 0;
        const uint64_t bias_at = op.data + round4(weights);
        const cleave_q_requant r = requant_from(image, bias_at + (has_bias ? 4u * out.c : 0u), out.c, out.zero_point);
        cleave_q_conv_shape s;
        s.batch = (int32_t)in.n;
        s.in_height = (int32_t)in.h;
        s.in_width = (int32_t)in.w;
        s.in_channels = (int32_t)in.c;
        s.out_height = (int32_t)out.h;
        s.out_width = (int32_t)out.w;
        s.out_channels = (int32_t)out.c;
        s.kernel_height = op.p[0];
        s.kernel_width = op.p[1];
        s.stride_height = op.p[2];
        s.stride_width = op.p[3];
        s.dilation_height = op.p[4];
        s.dilation_width = op.p[5];
        s.pad_top = op.p[6];
        s.pad_left = op.p[7];
        s.groups = op.p[8];
        s.input_zero_point = in.zero_point;
        cleave_q_conv(&s, (const int8_t *)x, (const int8_t *)(image + op.data),
                      has_bias ? (const int32_t *)(const void *)(image + bias_at) : 0, &r, (int8_t *)y);
        break;
      }
      case CLEAVE_Q_OP_FULLY_CONNECTED: {
        const uint64_t bias_at = op.data + round4((uint64_t)out.c * in.c);
        const int has_bias = op.p[0] != 0;
        const cleave_q_requant r = requant_from(image, bias_at + (has_bias ? 4u * out.c : 0u), out.c, out.zero_point);
        cleave_q_fully_connected((int32_t)(in.n * in.h * in.w), (int32_t)in.c, (int32_t)out.c, (const int8_t *)x,
                                 in.zero_point, (const int8_t *)(image + op.data),
                                 has_bias ? (const int32_t *)(const void *)(image + bias_at) : 0, &r, (int8_t *)y);
        break;
      }
      case CLEAVE_Q_OP_ADD: {
        const tensor_t in2 = tensor_of(image, op.in[1]);
        cleave_q_add_params p;
        p.input1_zero_point = in.zero_point;
        p.input2_zero_point = in2.zero_point;
        p.output_zero_point = out.zero_point;
        p.input1_multiplier = op.p[0];
        p.input1_shift = op.p[1];
        p.input2_multiplier = op.p[2];
        p.input2_shift = op.p[3];
        p.output_multiplier = op.p[4];
        p.output_shift = op.p[5];
        p.activation_min = -128;
        p.activation_max = 127;
        cleave_q_add((int64_t)elements(&out), (const int8_t *)x, (const int8_t *)(arena + in2.offset), &p, (int8_t *)y);
        break;
      }
      case CLEAVE_Q_OP_MUL: {
        const tensor_t in2 = tensor_of(image, op.in[1]);
        const int32_t multiplier = op.p[0];
        const int shift = op.p[1];
        cleave_q_requant r;
        r.multiplier = &multiplier;
        r.shift = &shift;
        r.output_zero_point = out.zero_point;
        r.activation_min = -128;
        r.activation_max = 127;
        cleave_q_mul((int64_t)elements(&out), (const int8_t *)x, in.zero_point, (const int8_t *)(arena + in2.offset),
                     in2.zero_point, &r, (int8_t *)y);
        break;
      }
      case CLEAVE_Q_OP_MAX_POOL: {
        const cleave_q_pool_shape s = pool_shape(&op, &in, &out);
        cleave_q_max_pool(&s, (const int8_t *)x, (int8_t *)y);
        break;
      }
      case CLEAVE_Q_OP_AVERAGE_POOL: {
        const cleave_q_pool_shape s = pool_shape(&op, &in, &out);
        cleave_q_average_pool(&s, (const int8_t *)x, (int8_t *)y);
        break;
      }
      case CLEAVE_Q_OP_QUANTIZE:
        cleave_q_quantize((int64_t)elements(&out), (const float *)x, out.scale, out.zero_point, (int8_t *)y);
        break;
      case CLEAVE_Q_OP_DEQUANTIZE:
        cleave_q_dequantize((int64_t)elements(&out), (const int8_t *)x, in.scale, in.zero_point, (float *)y);
        break;
      case CLEAVE_Q_OP_COPY: memcpy(y, x, (size_t)bytes_of(&out)); break;
      case CLEAVE_Q_OP_CONCAT: {
        const tensor_t in2 = tensor_of(image, op.in[1]);
        const uint64_t pixels = (uint64_t)out.n * out.h * out.w;
        uint64_t p;
        for (p = 0; p < pixels; ++p) {
          int8_t *dst = (int8_t *)y + p * out.c;
          const int8_t *a = (const int8_t *)x + p * in.c, *b = (const int8_t *)(arena + in2.offset) + p * in2.c;
          if (op.p[4] & 1) memcpy(dst, a, in.c);
          else cleave_q_rescale(in.c, a, in.zero_point, op.p[0], op.p[1], out.zero_point, dst);
          if (op.p[4] & 2) memcpy(dst + in.c, b, in2.c);
          else cleave_q_rescale(in2.c, b, in2.zero_point, op.p[2], op.p[3], out.zero_point, dst + in.c);
        }
        break;
      }
      default: break;
    }
  }
}
