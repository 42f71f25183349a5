#include "convlab/train/communicator.h"

#include <cstdlib>
#include <cstring>

#include "convlab/error.h"

#ifdef CONVLAB_HAVE_MPI
#include "mpi/mpi_communicator.h"
#endif

namespace convlab::train {

void SingleProcess::allgather(const void* mine, const std::vector<int64_t>& counts, void* all) {
  if (counts.size() != 1) throw Error("allgather: one count per process expected");
  if (counts[0] > 0) std::memmove(all, mine, static_cast<size_t>(counts[0]));
}

char* Communicator::outbox(const std::vector<int64_t>& counts) {
  if (counts.size() != static_cast<size_t>(size()))
    throw Error("outbox: one count per process expected");
  share_counts_ = counts;
  outbox_.resize(static_cast<size_t>(counts[static_cast<size_t>(rank())]));
  return outbox_.data();
}

std::vector<const char*> Communicator::share() {
  int64_t total = 0;
  for (int64_t c : share_counts_) total += c;
  gathered_.resize(static_cast<size_t>(total));
  allgather(outbox_.data(), share_counts_, gathered_.data());
  std::vector<const char*> parts;
  const char* at = gathered_.data();
  for (int64_t c : share_counts_) {
    parts.push_back(at);
    at += c;
  }
  return parts;
}

void SingleProcess::abort(int exit_code) {
  std::_Exit(exit_code);
}

bool launched_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_RANK");
}

std::unique_ptr<Communicator> join_mpi_job() {
#ifdef CONVLAB_HAVE_MPI
  return make_mpi_communicator();
#else
  const char* size = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (size && std::strcmp(size, "1") != 0)
    throw Error(
        "this convlab was built without MPI (install libopenmpi-dev and rebuild): it "
        "cannot join a job of " +
        std::string(excerpt(size, 12)) + " processes");
  return std::make_unique<SingleProcess>();
#endif
}

void expect_same_everywhere(Communicator& comm, uint64_t value, const std::string& what) {
  const int n = comm.size();
  std::vector<uint64_t> all(static_cast<size_t>(n));
  comm.allgather(&value, std::vector<int64_t>(static_cast<size_t>(n), sizeof value), all.data());
  for (int r = 1; r < n; ++r)
    if (all[static_cast<size_t>(r)] != all[0])
      throw Error("process " + std::to_string(r) + " of " + std::to_string(n) + " has different " +
                  what + " from process 0; every process must start from the same");
}

uint64_t fingerprint(const void* data, size_t bytes, uint64_t seed) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t h = 0x9e3779b97f4a7c15ull ^ seed ^ (bytes * 0xff51afd7ed558ccdull);
  auto mix = [&h](uint64_t w) {
    h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
    h ^= h >> 31;
  };
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    mix(w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p + i, bytes - i);
  mix(tail);
  return h;
}

}  // namespace convlab::train
