// Fetching the full official CIFAR-10 binary archive (the repository ships a subset). Needs curl,
// md5sum and tar on the machine and a network; offline it fails with a clear IoError and leaves
// nothing behind.
#pragma once

#include <string>

namespace convlab::data {

// The official archive's address (overridable with CONVLAB_CIFAR10_URL, which tests use) and MD5.
std::string cifar10_url();
inline constexpr const char* kCifar10Md5 = "c32a1d4ab5d03f1284b67883e8d87530";

// Downloads, checks the MD5, and unpacks into dest (dest/cifar-10-batches-bin). Returns that path.
std::string download_cifar10(const std::string& dest);

}  // namespace convlab::data
