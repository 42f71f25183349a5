// Acceptance for the first notebook: `convlab demo multichannel` prints every tensor (and size) the
// notebook prints, with the same values, in the same order.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "convlab/demo/multichannel.h"

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Whitespace is collapsed in the notebook's extracted text, and PyTorch adds grad_fn for tensors
// that carry autograd history (convlab has none); compare without either.
std::string normalise(std::string s) {
  for (size_t at; (at = s.find(", grad_fn=<")) != std::string::npos;)
    s.erase(at, s.find('>', at) + 1 - at);
  s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }),
          s.end());
  return s;
}

// Every "tensor(...)" and "torch.Size(...)" in the text, with balanced parentheses.
std::vector<std::string> printed_values(const std::string& text) {
  std::vector<std::string> found;
  for (size_t pos = 0; pos < text.size();) {
    const size_t t = text.find("tensor([", pos), z = text.find("torch.Size([", pos);
    const size_t start = std::min(t, z);
    if (start == std::string::npos) break;
    // Skip code lines such as "torch.tensor([[1.0,0,-1.0],...])": outputs start a line.
    if (start > 0 && text[start - 1] != '\n') {
      pos = start + 1;
      continue;
    }
    int depth = 0;
    size_t end = start;
    for (; end < text.size(); ++end) {
      if (text[end] == '(') ++depth;
      if (text[end] == ')' && --depth == 0) break;
    }
    found.push_back(text.substr(start, end + 1 - start));
    pos = end + 1;
  }
  return found;
}

}  // namespace

TEST(Notebook, DemoPrintsEveryTensorOfTheMultichannelNotebookInOrder) {
  const std::string notebook =
      read_file(std::string(CONVLAB_SOURCE_DIR) + "/docs/notebooks/multichannel_convolution.txt");
  const auto expected = printed_values(notebook);
  ASSERT_GE(expected.size(), 20u) << "the notebook text should hold its printed tensors";

  std::ostringstream out;
  convlab::demo::multichannel(out, "");
  const std::string got = normalise(out.str());
  size_t pos = 0;
  for (const auto& e : expected) {
    const size_t at = got.find(normalise(e), pos);
    ASSERT_NE(at, std::string::npos) << "not printed (in order) by the demo:\n" << e;
    pos = at + 1;
  }
  EXPECT_NE(out.str().find("equal to conv3(image2): True"), std::string::npos);
}
