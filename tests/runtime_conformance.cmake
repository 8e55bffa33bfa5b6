# The runtime's conformance tests, shared by the full build (tests/CMakeLists.txt) and the
# runtime-only aarch64 cross-build run under QEMU (CLEAVE_RUNTIME_ONLY, tools/cross/).
cleave_add_test(onnx_conformance_test ${PROJECT_SOURCE_DIR}/tests/onnx_conformance_test.cpp)

# Real networks exported by Debian's PyTorch into the build tree (never committed). Exit 77 =
# skipped (no torch), so CTest shows the reason instead of a pass.
add_test(NAME torchvision_export
         COMMAND ${PROJECT_SOURCE_DIR}/tools/models/export_torchvision.py ${PROJECT_BINARY_DIR}/models/torchvision)
set_tests_properties(torchvision_export PROPERTIES FIXTURES_SETUP torchvision SKIP_RETURN_CODE 77 TIMEOUT 600)
cleave_add_test(torchvision_test ${PROJECT_SOURCE_DIR}/tests/torchvision_test.cpp)
set_tests_properties(torchvision_test PROPERTIES FIXTURES_REQUIRED torchvision TIMEOUT 900)
if(CMAKE_CROSSCOMPILING)
  # Under QEMU every network runs 20-50x slower, so the cross-build checks what can differ by
  # architecture: each network matches PyTorch (fast kernels on one and two threads, portable
  # kernels). Staged runs being bit-identical to the whole graph is checked by the host build.
  set_tests_properties(torchvision_test PROPERTIES DISABLED TRUE)
  add_test(NAME torchvision_emulated_test COMMAND torchvision_test "--test-case=*match PyTorch*")
  set_tests_properties(torchvision_emulated_test PROPERTIES FIXTURES_REQUIRED torchvision TIMEOUT 2400)
endif()
