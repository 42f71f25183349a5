// Open MPI behind train::Communicator. Only this directory includes <mpi.h>; it is compiled when
// CMake finds MPI (CONVLAB_HAVE_MPI), so the library builds and runs without it.
#pragma once

#include <memory>

#include "convlab/train/communicator.h"

namespace convlab::train {

// MPI_Init_thread (MPI calls come from the main thread only: MPI_THREAD_FUNNELED) on
// MPI_COMM_WORLD with errors returned, not fatal, so that each becomes one Error.
std::unique_ptr<Communicator> make_mpi_communicator();

}  // namespace convlab::train
