// The Python module models._C. Ops register themselves with the dispatcher in their own
// translation units (TORCH_LIBRARY_FRAGMENT(gdocc, ...)); importing this module loads them
// into torch.ops.gdocc.
#include <torch/extension.h>

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "GD-OCC compiled ops, exposed as torch.ops.gdocc.*";
#ifdef WITH_CUDA
  m.attr("built_with_cuda") = true;
#else
  m.attr("built_with_cuda") = false;
#endif
}
