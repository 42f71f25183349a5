#include "mpi/mpi_communicator.h"

#include <mpi.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdlib>
#include <string>

#include "convlab/error.h"

namespace convlab::train {

namespace {

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(std::string(what) + " failed: " + std::string(text, static_cast<size_t>(length)));
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized) throw Error("MPI is already initialised in this process");
    int provided = 0;
    check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    check(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    // Processes that share one machine exchange through shared memory (see outbox()).
    // CONVLAB_MPI_SHARED=0 asks for MPI's allgather instead (as across machines); =1 makes it an
    // error not to use shared memory. Every process must take the same path: they agree on it.
    MPI_Comm node;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node),
          "MPI_Comm_split_type");
    int node_size = 0;
    MPI_Comm_size(node, &node_size);
    MPI_Comm_free(&node);
    const char* env = std::getenv("CONVLAB_MPI_SHARED");
    const std::string choice = env ? env : "";
    if (!choice.empty() && choice != "0" && choice != "1")
      throw Error("CONVLAB_MPI_SHARED must be 0 or 1; got '" + excerpt(choice, 20) + "'");
    required_ = choice == "1";
    int shared = size_ > 1 && node_size == size_ && choice != "0";
    check(MPI_Allreduce(MPI_IN_PLACE, &shared, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD),
          "MPI_Allreduce");
    shared_ = shared;
    if (required_ && !shared_ && size_ > 1)
      throw Error("CONVLAB_MPI_SHARED=1, but the " + std::to_string(size_) +
                  " processes cannot share memory (" +
                  (node_size == size_
                       ? std::string("another process was given CONVLAB_MPI_SHARED=0")
                       : std::to_string(node_size) + " of them are on this machine") +
                  ")");
  }
  ~MpiCommunicator() override {
    free_windows();
    MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void allgather(const void* mine, const std::vector<int64_t>& counts, void* all) override {
    if (counts.size() != static_cast<size_t>(size_))
      throw Error("allgather: one count per process expected");
    wait_for_everyone();
    // MPI counts and displacements are ints: larger messages go in rounds whose total fits.
    const int64_t kRound = std::max<int64_t>(1, INT_MAX / size_);
    std::vector<int64_t> starts(counts.size());
    for (size_t r = 1; r < counts.size(); ++r) starts[r] = starts[r - 1] + counts[r - 1];
    auto* out = static_cast<char*>(all);
    const auto* in = static_cast<const char*>(mine);
    const int64_t longest = *std::max_element(counts.begin(), counts.end());
    std::vector<int> round_counts(counts.size()), displacements(counts.size());
    for (int64_t done = 0; done < longest || (done == 0 && longest == 0); done += kRound) {
      // Each round lands in a scratch area laid out by rank, then moves into place.
      std::vector<char> scratch;
      int64_t total = 0;
      for (size_t r = 0; r < counts.size(); ++r) {
        round_counts[r] = static_cast<int>(std::clamp<int64_t>(counts[r] - done, 0, kRound));
        displacements[r] = static_cast<int>(total);
        total += round_counts[r];
      }
      if (total == 0) break;
      const bool direct = longest <= kRound;  // one round: straight into `all`
      if (!direct) scratch.resize(static_cast<size_t>(total));
      check(MPI_Allgatherv(in + std::min(done, counts[static_cast<size_t>(rank_)]),
                           round_counts[static_cast<size_t>(rank_)], MPI_BYTE,
                           direct ? out : scratch.data(), round_counts.data(), displacements.data(),
                           MPI_BYTE, MPI_COMM_WORLD),
            "MPI_Allgatherv");
      if (!direct)
        for (size_t r = 0; r < counts.size(); ++r)
          std::copy_n(scratch.data() + displacements[r], round_counts[r], out + starts[r] + done);
    }
  }

  char* outbox(const std::vector<int64_t>& counts) override {
    if (!shared_) return Communicator::outbox(counts);
    if (counts.size() != static_cast<size_t>(size_))
      throw Error("outbox: one count per process expected");
    const int64_t need = *std::max_element(counts.begin(), counts.end());
    if (need > capacity_ && !allocate_windows(need)) return Communicator::outbox(counts);
    return segments_[parity_][static_cast<size_t>(rank_)];
  }

  std::vector<const char*> share() override {
    if (!shared_) return Communicator::share();
    // The passive-target idiom for shared windows: sync (this process's writes are visible),
    // barrier (everyone's are), sync (nothing read below was read before the barrier).
    check(MPI_Win_sync(windows_[parity_]), "MPI_Win_sync");
    wait_for_everyone();
    check(MPI_Win_sync(windows_[parity_]), "MPI_Win_sync");
    std::vector<const char*> parts(segments_[parity_].begin(), segments_[parity_].end());
    // The next exchange writes the other window. A process writes into this one again only
    // after everyone has passed the next share(), i.e. has finished reading this exchange.
    parity_ ^= 1;
    return parts;
  }

  void sum(int64_t* values, int64_t count) override {
    if (count <= 0) return;
    if (count > INT_MAX) throw Error("sum: too many values for one MPI message");
    check(MPI_Allreduce(MPI_IN_PLACE, values, static_cast<int>(count), MPI_INT64_T, MPI_SUM,
                        MPI_COMM_WORLD),
          "MPI_Allreduce");
  }

  [[noreturn]] void abort(int exit_code) override {
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

 private:
  // Returns when every process has reached this point. A process that is early polls for a
  // short while, then sleeps between polls: MPI's own waiting spins without end, which on a
  // machine whose cores share hardware (a virtual machine's, hyperthreads) takes cycles from the
  // process still computing. The collective after it then finds everyone ready.
  void wait_for_everyone() {
    MPI_Request request;
    check(MPI_Ibarrier(MPI_COMM_WORLD, &request), "MPI_Ibarrier");
    const auto start = std::chrono::steady_clock::now();
    for (int done = 0;;) {
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
      if (done) return;
      if (std::chrono::steady_clock::now() - start > std::chrono::microseconds(kSpinMicroseconds)) {
        const timespec pause{0, 20000};  // 20 us
        nanosleep(&pause, nullptr);
      }
    }
  }
  static constexpr int kSpinMicroseconds = 50;

  // Two shared windows (one per parity) of `need` bytes or more per process, allocated together
  // by every process (same counts, same decision). False, on every process, if some process
  // could not allocate: the exchange then stays with allgather for the rest of the run.
  bool allocate_windows(int64_t need) {
    wait_for_everyone();  // nobody still reads the windows about to go
    free_windows();
    const int64_t capacity = (need + 4095) & ~int64_t{4095};  // whole pages
    MPI_Info info;
    MPI_Info_create(&info);
    MPI_Info_set(info, "alloc_shared_noncontig", "true");  // each process's part on its own pages
    // Both allocations are collective: every process makes both, whatever the first gave, and
    // only then do they agree whether all succeeded.
    int ok = 1;
    for (int w = 0; w < 2; ++w) {
      void* base = nullptr;
      windows_[w] = MPI_WIN_NULL;
      if (MPI_Win_allocate_shared(capacity, 1, info, MPI_COMM_WORLD, &base, &windows_[w]) !=
          MPI_SUCCESS) {
        windows_[w] = MPI_WIN_NULL;
        ok = 0;
      }
      if (windows_[w] != MPI_WIN_NULL) MPI_Win_set_errhandler(windows_[w], MPI_ERRORS_RETURN);
    }
    MPI_Info_free(&info);
    check(MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
    if (!ok) {
      // (Freeing is collective too: a window some process lacks is not freed anywhere.)
      int have[2] = {windows_[0] != MPI_WIN_NULL, windows_[1] != MPI_WIN_NULL};
      check(MPI_Allreduce(MPI_IN_PLACE, have, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD),
            "MPI_Allreduce");
      for (int w = 0; w < 2; ++w)
        if (!have[w]) windows_[w] = MPI_WIN_NULL;
      free_windows();
      if (required_)
        throw Error("CONVLAB_MPI_SHARED=1, but a shared-memory window of " +
                    std::to_string(capacity) + " bytes per process could not be allocated");
      shared_ = false;
      return false;
    }
    for (int w = 0; w < 2; ++w) {
      segments_[w].assign(static_cast<size_t>(size_), nullptr);
      for (int q = 0; q < size_; ++q) {
        MPI_Aint bytes = 0;
        int unit = 0;
        void* at = nullptr;
        check(MPI_Win_shared_query(windows_[w], q, &bytes, &unit, &at), "MPI_Win_shared_query");
        segments_[w][static_cast<size_t>(q)] = static_cast<char*>(at);
      }
    }
    for (int w = 0; w < 2; ++w)
      check(MPI_Win_lock_all(MPI_MODE_NOCHECK, windows_[w]), "MPI_Win_lock_all");
    locked_ = true;
    capacity_ = capacity;
    return true;
  }

  void free_windows() {
    for (MPI_Win& w : windows_)
      if (w != MPI_WIN_NULL) {
        if (locked_) MPI_Win_unlock_all(w);
        MPI_Win_free(&w);
        w = MPI_WIN_NULL;
      }
    locked_ = false;
    capacity_ = 0;
  }

  bool shared_ = false, required_ = false, locked_ = false;
  int64_t capacity_ = 0;  // bytes per process in each window
  MPI_Win windows_[2] = {MPI_WIN_NULL, MPI_WIN_NULL};
  std::vector<char*> segments_[2];
  int parity_ = 0;

  int rank_ = 0, size_ = 1;
};

}  // namespace

std::unique_ptr<Communicator> make_mpi_communicator() {
  return std::make_unique<MpiCommunicator>();
}

}  // namespace convlab::train
