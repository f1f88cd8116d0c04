// The MPI implementation's header, found through pkg-config (`mpi`: Debian's default MPI,
// Open MPI or MPICH). Only CEmberMPI includes it; no MPI type reaches Swift.
#include <mpi.h>
