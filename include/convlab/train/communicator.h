// The processes of a data-parallel run and the two collective operations training needs. One
// process without MPI is a Communicator of size 1 (every collective is a copy); `mpirun -np N`
// gives one of size N over Open MPI (built when CMake finds MPI). Nothing here decides numbers:
// which process computes what, and in which order sums are formed, is data_parallel.h's.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace convlab::train {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Every process passes its own bytes (counts[rank()] of them) and receives all processes'
  // bytes, concatenated in rank order, in `all` (the sum of counts). Every process passes the same
  // counts.
  virtual void allgather(const void* mine, const std::vector<int64_t>& counts, void* all) = 0;
  // The same exchange without copies where the processes share a machine. Every process calls
  // outbox(counts) (the same counts everywhere), writes its counts[rank()] bytes there, then
  // calls share(), which returns where each process's bytes are, in rank order, once all have
  // written. They stay readable, and unchanged, until this process calls outbox() again; another
  // process writing its next outbox meanwhile does not touch them (a process may run one exchange
  // ahead of another still reading). This default is allgather into buffers of its own.
  virtual char* outbox(const std::vector<int64_t>& counts);
  virtual std::vector<const char*> share();
  // Element-wise sum over the processes, in place. Integers: exact, whatever the order.
  virtual void sum(int64_t* values, int64_t count) = 0;
  // Ends every process of the job at once (MPI_Abort); for an error that only this process saw,
  // which would otherwise leave the others waiting in a collective.
  [[noreturn]] virtual void abort(int exit_code) = 0;

 private:
  std::vector<int64_t> share_counts_;
  std::vector<char> outbox_, gathered_;
};

// One process: rank 0 of 1.
class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  void allgather(const void* mine, const std::vector<int64_t>& counts, void* all) override;
  void sum(int64_t*, int64_t) override {}
  [[noreturn]] void abort(int exit_code) override;
};

// Whether this process was started by mpirun (Open MPI's or PMIx's environment says so).
bool launched_by_mpirun();

// Joins the MPI job this process belongs to (MPI_Init; MPI_Finalize when the returned object is
// destroyed). Throws Error if this convlab was built without MPI and the job has more than one
// process, or if MPI cannot start.
std::unique_ptr<Communicator> join_mpi_job();

// The same 64-bit value on every process, or an Error naming `what` and the first process that
// differs (for the start-of-run checks: the same data, the same recipe, the same model).
void expect_same_everywhere(Communicator& comm, uint64_t value, const std::string& what);

// A 64-bit fingerprint of bytes (word-wise multiply-xor: fast on 150 MB, not cryptographic).
uint64_t fingerprint(const void* data, size_t bytes, uint64_t seed = 0);

}  // namespace convlab::train
