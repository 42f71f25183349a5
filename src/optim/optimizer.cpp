#include "convlab/optim/optimizer.h"

#include <immintrin.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "convlab/error.h"
#include "convlab/ops/kernels.h"
#include "convlab/ops/parallel.h"

// GCC bug 105593: AVX-512 intrinsics warn of their own undefined lanes (as in the kernels).
#if !defined(__clang__)  // clang has no such warning
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace convlab::optim {

namespace {

void check_positive(double v, const char* what, bool allow_zero) {
  if (!std::isfinite(v) || v < 0 || (!allow_zero && v == 0))
    throw ValueError(std::string(what) + " must be " + (allow_zero ? "non-negative" : "positive") +
                     "; got " + std::to_string(v));
}

Tensor scalar_tensor(double v) {
  return Tensor({1}, std::vector<float>{static_cast<float>(v)});
}

const Tensor& state_entry(const std::map<std::string, Tensor>& state, const std::string& key,
                          const Shape& shape) {
  auto it = state.find(key);
  if (it == state.end()) throw IoError("optimizer state is missing '" + key + "'");
  if (it->second.shape() != shape)
    throw IoError("optimizer state '" + key + "' has shape " + to_string(it->second.shape()) +
                  "; expected " + to_string(shape));
  return it->second;
}

// Adam's element-wise update, compiled for each instruction set and chosen by active_isa(), as
// the kernels are. Each element gets the same IEEE operations in the same order whatever set runs
// it (no fused multiply-add: -ffp-contract=off; square root and division round exactly), so every
// set gives the baseline's bits (tests/recipe_test.cpp runs each); where two NaNs meet in one
// operation, which payload survives is the compiler's choice of operand order.
struct AdamScalars {
  float step_size, bc2_sqrt, b1, b2, one_minus_b1, one_minus_b2, eps, wd, decay;
  bool decoupled;
};

[[gnu::always_inline]] inline void adam_update_body(const AdamScalars& a, int64_t n,
                                                    float* __restrict w, const float* __restrict gp,
                                                    float* __restrict m, float* __restrict v) {
  const AdamScalars s = a;  // by value: the loop's scalars stay in registers
  if (s.decoupled)
    for (int64_t k = 0; k < n; ++k) w[k] = w[k] * s.decay;  // param.mul_(1 - lr * weight_decay)
  for (int64_t k = 0; k < n; ++k) {
    const float g = s.wd != 0 ? gp[k] + s.wd * w[k] : gp[k];
    m[k] = m[k] * s.b1 + s.one_minus_b1 * g;  // exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
    // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    v[k] = v[k] * s.b2 + s.one_minus_b2 * g * g;
    const float denom = std::sqrt(v[k]) / s.bc2_sqrt + s.eps;  // eps outside the square root
    // param.addcdiv_(exp_avg, denom, value=-step_size)
    w[k] = w[k] + (-s.step_size) * (m[k] / denom);
  }
}

#define CONVLAB_ADAM_UPDATE(name, attributes)                                                  \
  attributes void name(const AdamScalars& a, int64_t n, float* __restrict w,                   \
                       const float* __restrict gp, float* __restrict m, float* __restrict v) { \
    adam_update_body(a, n, w, gp, m, v);                                                       \
  }
CONVLAB_ADAM_UPDATE(adam_update_avx2, __attribute__((target("arch=x86-64-v3"))))
CONVLAB_ADAM_UPDATE(adam_update_generic, )
#undef CONVLAB_ADAM_UPDATE

// SGD's element-wise update, likewise for each instruction set (PyTorch's order of operations).
struct SgdScalars {
  float lr, wd, mom, damp;
  bool momentum, first, nesterov;
  // For each factor s above (same order), the e of the AVX-512 update's products: for s finite
  // and not zero, x * s is a normal float (or infinite) for every |x| of 2^e or more; e >= -126.
  int normal_from[4];
};

// 2^-125 <= 2^e x |s| <= |x| x |s| for a normal s (e at least -126: a subnormal x is never one);
// a subnormal s makes every product slow, so e = 128 sends every finite x to double; for 0 and
// non-finite s only a subnormal x is. (Only speed depends on e: both paths give the same bits.)
int normal_product_exponent(float s) {
  if (s == 0 || !std::isfinite(s)) return -126;
  if (std::fabs(s) < std::numeric_limits<float>::min()) return 128;
  return std::max(-126, -125 - std::ilogb(s));
}

[[gnu::always_inline]] inline void sgd_update_body(const SgdScalars& a, int64_t n,
                                                   float* __restrict w, const float* __restrict g,
                                                   float* __restrict buf) {
  const SgdScalars s = a;
  for (int64_t k = 0; k < n; ++k) {
    float d = s.wd != 0 ? g[k] + s.wd * w[k] : g[k];  // d_p = grad.add(param, alpha=weight_decay)
    if (s.momentum) {
      // buf = clone(d_p) at the first step, then buf.mul_(momentum).add_(d_p, alpha=1-dampening)
      buf[k] = s.first ? d : buf[k] * s.mom + s.damp * d;
      d = s.nesterov ? d + s.mom * buf[k] : buf[k];
    }
    w[k] = w[k] - s.lr * d;  // param.add_(d_p, alpha=-lr)
  }
}

#define CONVLAB_SGD_UPDATE(name, attributes)                                \
  attributes void name(const SgdScalars& a, int64_t n, float* __restrict w, \
                       const float* __restrict g, float* __restrict buf) {  \
    sgd_update_body(a, n, w, g, buf);                                       \
  }
CONVLAB_SGD_UPDATE(sgd_update_avx2, __attribute__((target("arch=x86-64-v3"))))
CONVLAB_SGD_UPDATE(sgd_update_generic, )
#undef CONVLAB_SGD_UPDATE

// ---- AVX-512 Adam: the same bits, no subnormal operands in float multiplications ----
//
// A weight whose gradient stops (a unit that no longer fires) keeps an exp_avg that shrinks by
// beta1 a step until it is subnormal, and stays there: 4 x 2^-149 * 0.9 rounds back to itself.
// A float multiplication or division with a subnormal operand or result takes a microcode assist
// on this CPU, about 100 cycles (additions do not), and Adam met three an element: the notebook's
// network at batch 1, a third of whose Linear weights had gone quiet, spent 1.37 of its 1.7 ms a
// step in the update (2.4 ms against 0.19 for the same 264,000 weights with live gradients).
// So blocks of 16 whose exp_avg has a lane under 2^-100 (and not zero) make those three operations
// in double: the double of a float is exact (a subnormal one made from its bits, k x 2^-149, so
// that no float operation sees it), the product or quotient of two floats in double rounded to
// float is the float operation's result (double has more than 2 x 24 + 2 bits: rounding twice
// gives the same), and a result in the subnormal range is rounded to the nearest multiple of
// 2^-149, ties to even, and made from its bits. Blocks whose gradient, exp_avg_sq or weight is
// that small take the plain float path (exact, and slow only there). The quotient and step in
// double are then needed only where a subnormal exp_avg's step could change its weight: most
// such lanes provably lose it (adam_block_exact), and the rest of their block divides in float.
// That took the notebook's network's training at batch 1, 1 thread, from 733-869 to 1,189-1,436
// images/s (alternated runs; the update had been 68 % of a step).
#define CONVLAB_V4 __attribute__((target("arch=x86-64-v4")))

// The exact double of each of 8 floats.
CONVLAB_V4 inline __m512d widen(__m256 f) {
  const __m256i bits = _mm256_castps_si256(f);
  const __m256i mag = _mm256_and_si256(bits, _mm256_set1_epi32(0x7fffffff));
  const __mmask8 small = _mm256_cmplt_epi32_mask(mag, _mm256_set1_epi32(0x00800000));
  // Subnormal lanes zeroed before the conversion, so that it never sees one (whether a masked
  // conversion would still take the assist was not measured).
  const __m512d normal = _mm512_cvtps_pd(_mm256_maskz_mov_ps(static_cast<__mmask8>(~small), f));
  const __m512d k = _mm512_mul_pd(_mm512_cvtepi32_pd(mag), _mm512_set1_pd(0x1p-149));
  const __m512i sign = _mm512_and_si512(_mm512_cvtepi32_epi64(bits),
                                        _mm512_set1_epi64(static_cast<int64_t>(1ull << 63)));
  const __m512d sub = _mm512_castsi512_pd(_mm512_or_si512(_mm512_castpd_si512(k), sign));
  return _mm512_mask_blend_pd(small, normal, sub);
}

// 8 doubles (each the exact or double-rounded result of an operation on floats) rounded to float.
CONVLAB_V4 inline __m256 narrow(__m512d x) {
  const __m512d ax = _mm512_abs_pd(x);
  const __mmask8 small = _mm512_cmp_pd_mask(ax, _mm512_set1_pd(0x1p-126), _CMP_LT_OQ);
  const __m256 normal = _mm512_cvtpd_ps(_mm512_maskz_mov_pd(static_cast<__mmask8>(~small), x));
  // k x 2^-149, k the nearest integer (ties to even) to |x| x 2^149 (exact): at most 2^23, whose
  // bits are those of 2^-126, the smallest normal float.
  const __m512d k = _mm512_roundscale_pd(_mm512_mul_pd(ax, _mm512_set1_pd(0x1p149)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m256i sign =
      _mm256_and_si256(_mm512_cvtepi64_epi32(_mm512_srli_epi64(_mm512_castpd_si512(x), 32)),
                       _mm256_set1_epi32(static_cast<int>(0x80000000u)));
  const __m256 sub = _mm256_castsi256_ps(_mm256_or_si256(_mm512_cvtpd_epi32(k), sign));
  return _mm256_mask_blend_ps(small, normal, sub);
}

// Lanes (of n) whose float is neither zero nor at least 2^e in magnitude.
CONVLAB_V4 inline __mmask16 tiny_lanes(__mmask16 n, __m512 x, int e) {
  const __m512i mag = _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff));
  return _mm512_mask_cmplt_epu32_mask(_mm512_mask_test_epi32_mask(n, mag, mag), mag,
                                      _mm512_set1_epi32((127 + e) << 23));
}

CONVLAB_V4 inline __m256 low(__m512 x) {
  return _mm512_castps512_ps256(x);
}
CONVLAB_V4 inline __m256 high(__m512 x) {
  return _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1));
}
CONVLAB_V4 inline __m512 join(__m256 lo, __m256 hi) {
  return _mm512_castpd_ps(
      _mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_castps_pd(lo)), _mm256_castps_pd(hi), 1));
}

// Magnitudes (sign bit cleared) of 16 floats as integers: ordered as the floats' magnitudes, NaN
// above infinity, and compared without a float operation (which a subnormal would slow).
CONVLAB_V4 inline __m512i magnitude(__m512 x) {
  return _mm512_and_si512(_mm512_castps_si512(x), _mm512_set1_epi32(0x7fffffff));
}
CONVLAB_V4 inline __m512i bits_of(float x) {
  return _mm512_set1_epi32(static_cast<int>(std::bit_cast<uint32_t>(x)));
}

// The update of a block with exp_avg's multiplication, the step's division and its scaling in
// double (g, v, w are not small: the rest cannot meet a subnormal operand but in additions).
// The division and scaling are left out where the step provably leaves the weight as it is:
// exp_avg m1 subnormal, denom at least 2^-40 and not NaN, |step_size| at most 2^10, so the
// step's float |-step_size * (m1 / denom)| is at most 2^-76, under half the spacing of floats
// around any weight of magnitude 2^-50 or more (infinite included, NaN not): w + that step rounds
// to w. A weight
// whose gradient has stopped is such a lane at every step from then on, and such weights come in
// runs (a silent input feature is a run of columns of a Linear's rows).
CONVLAB_V4 inline void adam_block_exact(const AdamScalars& s, __mmask16 lanes, __m512 wk, __m512 g,
                                        __m512 mk, __m512 vk, __m512& w1, __m512& m1, __m512& v1) {
  const __m512d b1 = _mm512_set1_pd(s.b1);
  const __m512 t1 =
      join(narrow(_mm512_mul_pd(widen(low(mk)), b1)), narrow(_mm512_mul_pd(widen(high(mk)), b1)));
  m1 = _mm512_add_ps(t1, _mm512_mul_ps(_mm512_set1_ps(s.one_minus_b1), g));
  v1 = _mm512_add_ps(_mm512_mul_ps(vk, _mm512_set1_ps(s.b2)),
                     _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(s.one_minus_b2), g), g));
  const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(v1), _mm512_set1_ps(s.bc2_sqrt)),
                                     _mm512_set1_ps(s.eps));
  // Lanes whose exp_avg m1 is subnormal: kept ones need no step; the others' float steps meet no
  // subnormal operand (m1 normal or zero; a subnormal quotient or step, possible but rare, is
  // still exact, only slow), so they take the float operations with the kept lanes' m1 zeroed.
  const __mmask16 tiny = tiny_lanes(lanes, m1, -126);
  if (std::fabs(s.step_size) <= 0x1p10f) {  // (a learning rate set below zero: set_lr)
    const __m512i inf = bits_of(std::numeric_limits<float>::infinity());
    __mmask16 kept = _mm512_mask_cmpge_epu32_mask(tiny, magnitude(denom), bits_of(0x1p-40f));
    kept = _mm512_mask_cmple_epu32_mask(kept, magnitude(denom), inf);
    kept = _mm512_mask_cmpge_epu32_mask(kept, magnitude(wk), bits_of(0x1p-50f));
    kept = _mm512_mask_cmple_epu32_mask(kept, magnitude(wk), inf);
    if (kept == tiny) {
      // A kept lane's step is then -step_size * (0 / denom) = -0 or +0: w1 = w (not zero).
      const __m512 q = _mm512_div_ps(_mm512_maskz_mov_ps(static_cast<__mmask16>(~tiny), m1), denom);
      w1 = _mm512_add_ps(wk, _mm512_mul_ps(_mm512_set1_ps(-s.step_size), q));
      return;
    }
  }
  const __m512d step = _mm512_set1_pd(-s.step_size);
  __m256 r[2];
  for (int h = 0; h < 2; ++h) {
    const __m256 mh = h ? high(m1) : low(m1), dh = h ? high(denom) : low(denom);
    const __m256 q = narrow(_mm512_div_pd(widen(mh), widen(dh)));
    r[h] = narrow(_mm512_mul_pd(step, widen(q)));
  }
  w1 = _mm512_add_ps(wk, join(r[0], r[1]));
}

CONVLAB_V4 void adam_update_avx512(const AdamScalars& a, int64_t n, float* __restrict w,
                                   const float* __restrict gp, float* __restrict m,
                                   float* __restrict v) {
  const AdamScalars s = a;
  if (s.decoupled)
    for (int64_t k = 0; k < n; ++k) w[k] = w[k] * s.decay;
  const __m512 b1 = _mm512_set1_ps(s.b1), b2 = _mm512_set1_ps(s.b2);
  const __m512 c1 = _mm512_set1_ps(s.one_minus_b1), c2 = _mm512_set1_ps(s.one_minus_b2);
  const __m512 bc2 = _mm512_set1_ps(s.bc2_sqrt), eps = _mm512_set1_ps(s.eps);
  const __m512 step = _mm512_set1_ps(-s.step_size), wd = _mm512_set1_ps(s.wd);
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 lanes =
        n - k >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - k)) - 1);
    const __m512 wk = _mm512_maskz_loadu_ps(lanes, w + k), mk = _mm512_maskz_loadu_ps(lanes, m + k);
    const __m512 vk = _mm512_maskz_loadu_ps(lanes, v + k);
    __m512 g = _mm512_maskz_loadu_ps(lanes, gp + k);
    if (s.wd != 0) g = _mm512_add_ps(g, _mm512_mul_ps(wd, wk));
    __m512 w1, m1, v1;
    if (tiny_lanes(lanes, mk, -100) && !tiny_lanes(lanes, g, -45) && !tiny_lanes(lanes, vk, -100) &&
        !tiny_lanes(lanes, wk, -100)) {
      adam_block_exact(s, lanes, wk, g, mk, vk, w1, m1, v1);
    } else {
      m1 = _mm512_add_ps(_mm512_mul_ps(mk, b1), _mm512_mul_ps(c1, g));
      v1 = _mm512_add_ps(_mm512_mul_ps(vk, b2), _mm512_mul_ps(_mm512_mul_ps(c2, g), g));
      const __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(v1), bc2), eps);
      w1 = _mm512_add_ps(wk, _mm512_mul_ps(step, _mm512_div_ps(m1, denom)));
    }
    _mm512_mask_storeu_ps(w + k, lanes, w1);
    _mm512_mask_storeu_ps(m + k, lanes, m1);
    _mm512_mask_storeu_ps(v + k, lanes, v1);
  }
}

// ---- AVX-512 SGD: the same bits, no subnormal operands in float multiplications ----
//
// With momentum, a weight whose gradient stops keeps a momentum buffer that shrinks by the
// momentum a step until it is subnormal and stays there (as Adam's exp_avg, above); its update
// then met two float multiplications with a subnormal operand or result an element
// (buf * momentum, lr * buf), each a microcode assist: a step over 262,144 such weights took
// 18.5 ms instead of 0.32. So a product x * s whose vector has a lane that is not zero and under
// 2^e is made in double (widen, narrow: the float product's bits), any other in float, e from
// SgdScalars::normal_from.
CONVLAB_V4 inline __m512 times(__m512 x, float s, int e, __mmask16 lanes) {
  if (!tiny_lanes(lanes, x, e)) return _mm512_mul_ps(x, _mm512_set1_ps(s));
  const __m512d sd = _mm512_set1_pd(s);
  return join(narrow(_mm512_mul_pd(widen(low(x)), sd)), narrow(_mm512_mul_pd(widen(high(x)), sd)));
}

CONVLAB_V4 void sgd_update_avx512(const SgdScalars& a, int64_t n, float* __restrict w,
                                  const float* __restrict g, float* __restrict buf) {
  const SgdScalars s = a;
  for (int64_t k = 0; k < n; k += 16) {
    const __mmask16 lanes =
        n - k >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << (n - k)) - 1);
    const __m512 wk = _mm512_maskz_loadu_ps(lanes, w + k);
    __m512 d = _mm512_maskz_loadu_ps(lanes, g + k);
    if (s.wd != 0) d = _mm512_add_ps(d, times(wk, s.wd, s.normal_from[1], lanes));
    if (s.momentum) {
      const __m512 b = s.first ? d
                               : _mm512_add_ps(times(_mm512_maskz_loadu_ps(lanes, buf + k), s.mom,
                                                     s.normal_from[2], lanes),
                                               times(d, s.damp, s.normal_from[3], lanes));
      _mm512_mask_storeu_ps(buf + k, lanes, b);
      d = s.nesterov ? _mm512_add_ps(d, times(b, s.mom, s.normal_from[2], lanes)) : b;
    }
    _mm512_mask_storeu_ps(w + k, lanes, _mm512_sub_ps(wk, times(d, s.lr, s.normal_from[0], lanes)));
  }
}
#undef CONVLAB_V4

// The update compiled for the active instruction set.
template <typename Update>
Update update_for(Update avx512, Update avx2, Update generic) {
  switch (kernels::active_isa()) {
    case kernels::Isa::avx512:
      return avx512;
    case kernels::Isa::avx2:
      return avx2;
    default:
      return generic;
  }
}

}  // namespace

void Optimizer::zero_grad() {
  for (nn::Parameter* p : params_) p->grad.fill_(0.0f);
}

// ---- SGD ----

SGD::SGD(std::vector<nn::Parameter*> params, SGDOptions options)
    : Optimizer(std::move(params)), o_(options) {
  check_positive(o_.lr, "SGD: lr", true);
  check_positive(o_.momentum, "SGD: momentum", true);
  check_positive(o_.weight_decay, "SGD: weight_decay", true);
  if (o_.nesterov && (o_.momentum <= 0 || o_.dampening != 0))
    throw ValueError("SGD: Nesterov momentum requires a momentum and zero dampening");
}

void SGD::step() {
  const bool first = momentum_.empty() && o_.momentum != 0;
  if (first)
    for (nn::Parameter* p : params_) momentum_.emplace_back(p->grad.shape());
  SgdScalars scalars{static_cast<float>(o_.lr),
                     static_cast<float>(o_.weight_decay),
                     static_cast<float>(o_.momentum),
                     static_cast<float>(1.0 - o_.dampening),
                     o_.momentum != 0,
                     first,
                     o_.nesterov,
                     {}};
  const float factors[4] = {scalars.lr, scalars.wd, scalars.mom, scalars.damp};
  for (int f = 0; f < 4; ++f) scalars.normal_from[f] = normal_product_exponent(factors[f]);
  const auto sgd_update = update_for(sgd_update_avx512, sgd_update_avx2, sgd_update_generic);
  constexpr int64_t kChunk = 16384;
  for (size_t i = 0; i < params_.size(); ++i) {
    const int64_t n = params_[i]->value.numel();
    float* w = params_[i]->value.data();
    const float* g = params_[i]->grad.data();
    float* buf = o_.momentum != 0 ? momentum_[i].data() : nullptr;
    parallel_for((n + kChunk - 1) / kChunk, [&](int64_t c) {
      const int64_t s = c * kChunk;
      sgd_update(scalars, std::min(kChunk, n - s), w + s, g + s, buf ? buf + s : nullptr);
    });
  }
  ++steps_;
}

std::map<std::string, Tensor> SGD::state_tensors() const {
  std::map<std::string, Tensor> s{{"step", scalar_tensor(static_cast<double>(steps_))}};
  for (size_t i = 0; i < momentum_.size(); ++i)
    s[std::to_string(i) + ".momentum_buffer"] = momentum_[i];
  return s;
}

void SGD::load_state_tensors(const std::map<std::string, Tensor>& state) {
  steps_ = static_cast<int64_t>(state_entry(state, "step", {1}).item());
  momentum_.clear();
  if (state.count("0.momentum_buffer"))
    for (size_t i = 0; i < params_.size(); ++i)
      momentum_.push_back(
          state_entry(state, std::to_string(i) + ".momentum_buffer", params_[i]->value.shape()));
}

// ---- Adam ----

Adam::Adam(std::vector<nn::Parameter*> params, AdamOptions options)
    : Optimizer(std::move(params)), o_(options) {
  check_positive(o_.lr, "Adam: lr", true);
  check_positive(o_.eps, "Adam: eps", true);
  check_positive(o_.weight_decay, "Adam: weight_decay", true);
  if (!(o_.beta1 >= 0 && o_.beta1 < 1 && o_.beta2 >= 0 && o_.beta2 < 1))
    throw ValueError("Adam: betas must be in [0, 1)");
  for (nn::Parameter* p : params_) {
    exp_avg_.emplace_back(p->value.shape());
    exp_avg_sq_.emplace_back(p->value.shape());
  }
}

void Adam::step() {
  ++steps_;
  // Scalars in double as PyTorch computes them in Python, used as float in the tensor ops.
  const double bias_correction1 = 1.0 - std::pow(o_.beta1, static_cast<double>(steps_));
  const double bias_correction2 = 1.0 - std::pow(o_.beta2, static_cast<double>(steps_));
  const float step_size = static_cast<float>(o_.lr / bias_correction1);
  const float bc2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  const float b1 = static_cast<float>(o_.beta1), b2 = static_cast<float>(o_.beta2);
  const float one_minus_b1 = static_cast<float>(1.0 - o_.beta1),
              one_minus_b2 = static_cast<float>(1.0 - o_.beta2);
  const float eps = static_cast<float>(o_.eps);
  // Adam adds weight_decay * w to the gradient; AdamW scales w by 1 - lr * weight_decay (in
  // double, as PyTorch computes the scalar) before the update.
  const float wd = o_.decoupled ? 0.0f : static_cast<float>(o_.weight_decay);
  const float decay = static_cast<float>(1.0 - o_.lr * o_.weight_decay);
  const bool decoupled = o_.decoupled && o_.weight_decay != 0;
  const AdamScalars scalars{step_size,    bc2_sqrt, b1, b2,    one_minus_b1,
                            one_minus_b2, eps,      wd, decay, decoupled};
  const auto adam_update = update_for(adam_update_avx512, adam_update_avx2, adam_update_generic);
  constexpr int64_t kChunk = 16384;
  for (size_t i = 0; i < params_.size(); ++i) {
    const int64_t n = params_[i]->value.numel();
    float* w = params_[i]->value.data();
    const float* gp = params_[i]->grad.data();
    float* m = exp_avg_[i].data();
    float* v = exp_avg_sq_[i].data();
    parallel_for((n + kChunk - 1) / kChunk, [&](int64_t c) {
      const int64_t s = c * kChunk;
      adam_update(scalars, std::min(kChunk, n - s), w + s, gp + s, m + s, v + s);
    });
  }
}

std::map<std::string, Tensor> Adam::state_tensors() const {
  std::map<std::string, Tensor> s{{"step", scalar_tensor(static_cast<double>(steps_))}};
  for (size_t i = 0; i < exp_avg_.size(); ++i) {
    s[std::to_string(i) + ".exp_avg"] = exp_avg_[i];
    s[std::to_string(i) + ".exp_avg_sq"] = exp_avg_sq_[i];
  }
  return s;
}

void Adam::load_state_tensors(const std::map<std::string, Tensor>& state) {
  steps_ = static_cast<int64_t>(state_entry(state, "step", {1}).item());
  for (size_t i = 0; i < params_.size(); ++i) {
    exp_avg_[i] = state_entry(state, std::to_string(i) + ".exp_avg", params_[i]->value.shape());
    exp_avg_sq_[i] =
        state_entry(state, std::to_string(i) + ".exp_avg_sq", params_[i]->value.shape());
  }
}

}  // namespace convlab::optim
