// Copies of short rows: image rows into zero-bordered buffers and back (7 to 64 floats each).
// A memcpy call per row of 16 or 32 floats costs more than the copy itself: padding by memcpy and
// fill per row took 19 % of a 32 -> 64 stride-2 convolution and about 10 % of the notebook
// network's training step. With AVX-512, 16 floats a (masked) load and store, no call per row;
// elsewhere memcpy per row. A copy, so the same bits either way.
#pragma once

#include <cstdint>

namespace convlab::kernels {

// rows x cols floats from src (rows src_ld floats apart) to dst (rows dst_ld floats apart).
void copy_rows(const float* src, int64_t src_ld, float* dst, int64_t dst_ld, int64_t rows,
               int64_t cols);

// `planes` planes of rows x cols floats (contiguous) copied into a zeroed buffer of planes x
// (dst_rows x dst_cols) at (top, left): one fill, then the rows.
void copy_into_zeroed(const float* src, int64_t planes, int64_t rows, int64_t cols, float* dst,
                      int64_t dst_rows, int64_t dst_cols, int64_t top, int64_t left);

// Zeros everywhere in a dst_rows x dst_cols plane of `width` floats a pixel (pixel-major) but the
// rows x cols pixels at (top, left), which the caller writes: the border of a zero-bordered
// channels-last copy.
void zero_border(int64_t rows, int64_t cols, int64_t width, float* dst, int64_t dst_rows,
                 int64_t dst_cols, int64_t top, int64_t left);

}  // namespace convlab::kernels
