// A program outside convlab's tree, built against the installed package (tests/install_test.sh):
// the notebook's network trained for a few steps on random images, through the core library only.
#include <cstdio>

#include "convlab/nn/loss.h"
#include "convlab/nn/models.h"
#include "convlab/optim/optimizer.h"
#include "convlab/tensor/random.h"

int main() {
  convlab::Generator gen(0);
  auto model = convlab::nn::build_model("standard", gen);
  model->train();
  convlab::optim::Adam adam(model->parameters(), convlab::optim::AdamOptions{.lr = 1e-3});
  convlab::nn::CrossEntropyLoss loss;
  convlab::Tensor images({8, 3, 32, 32}), grad;
  gen.fill_uniform(images, 0, 1);
  const std::vector<int64_t> targets = {0, 1, 2, 3, 4, 5, 6, 7};
  float first = 0, last = 0;
  for (int step = 0; step < 20; ++step) {
    adam.zero_grad();
    last = loss.forward(model->forward(images), targets);
    if (step == 0) first = last;
    loss.backward(grad);
    model->backward(grad);
    adam.step();
  }
  std::printf("loss %.4f -> %.4f\n", first, last);
  return last < first ? 0 : 1;
}
