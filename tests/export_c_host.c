/* A host program around a stage exported by `cleavectl model export-c`, built with
 * gcc -std=c99 -Wall -Werror as firmware would be: no heap, a static arena. Reads the stage's
 * input from a .npy file (or raw bytes), runs the stage image on the int8 reference kernels and
 * prints every output byte in hex. STAGE_HEADER, STAGE_IMAGE and STAGE_ARENA_BYTES name the
 * exported header, array and arena size. Used by tests/export_c_test.sh. */
#include <stdio.h>
#include <string.h>

#include "runtime/int8/stage_image.h"
#include STAGE_HEADER

static unsigned char file_bytes[1 << 20];
static uint32_t arena[(STAGE_ARENA_BYTES + 3) / 4]; /* 4-byte aligned, as the image requires */

int main(int argc, char **argv) {
  cleave_q_stage_info info;
  FILE *file;
  size_t size, payload = 0;
  uint32_t bytes, i;
  uint8_t *tensor;
  int status;
  if (argc != 2) {
    fprintf(stderr, "usage: %s INPUT(.npy or raw)\n", argv[0]);
    return 2;
  }
  status = cleave_q_stage_check(STAGE_IMAGE, sizeof STAGE_IMAGE, &info);
  if (status != 0) {
    fprintf(stderr, "stage image refused: %s\n", cleave_q_stage_error(status));
    return 1;
  }
  file = fopen(argv[1], "rb");
  if (!file) return 1;
  size = fread(file_bytes, 1, sizeof file_bytes, file);
  fclose(file);
  if (size >= 10 && memcmp(file_bytes, "\x93NUMPY", 6) == 0) /* skip a version 1 .npy header */
    payload = 10 + (size_t)(file_bytes[8] | file_bytes[9] << 8);
  tensor = cleave_q_stage_tensor(STAGE_IMAGE, (uint8_t *)arena, 0, 0, &bytes);
  if (!tensor || size - payload != bytes) {
    fprintf(stderr, "input holds %lu bytes, the stage takes %lu\n", (unsigned long)(size - payload), (unsigned long)bytes);
    return 1;
  }
  memcpy(tensor, file_bytes + payload, bytes);
  cleave_q_stage_run(STAGE_IMAGE, (uint8_t *)arena);
  tensor = cleave_q_stage_tensor(STAGE_IMAGE, (uint8_t *)arena, 1, 0, &bytes);
  for (i = 0; i < bytes; ++i) printf("%02x", tensor[i]);
  printf("\n");
  return 0;
}
