#include "runtime/blas.h"

#ifdef EIGEN_USE_BLAS
// OpenBLAS's own entry points (cblas.h declares them too, but pulls in a second BLAS header
// beside Eigen's).
extern "C" {
void openblas_set_num_threads(int threads);
int openblas_get_num_threads(void);
char* openblas_get_config(void);
}
#endif

namespace cleave {

void keepBlasOnCallingThread() {
#ifdef EIGEN_USE_BLAS
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
#endif
}

std::string blasDescription() {
#ifdef EIGEN_USE_BLAS
  const char* config = openblas_get_config();
  return config != nullptr ? std::string(config) : std::string("OpenBLAS");
#else
  return "Eigen";
#endif
}

int blasThreads() {
#ifdef EIGEN_USE_BLAS
  return openblas_get_num_threads();
#else
  return 1;
#endif
}

}  // namespace cleave
