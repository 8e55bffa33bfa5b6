# CMake toolchain for the aarch64 (Raspberry Pi 3/4/5 class) cross-build of the runtime: Debian's
# g++-aarch64-linux-gnu, arm64 libraries unpacked by tools/cross/aarch64-sysroot.sh into
# CLEAVE_AARCH64_SYSROOT, tests run under qemu-aarch64 (Debian's qemu-user). Header-only
# dependencies (Eigen, doctest) come from the host. Used by `make test-aarch64`.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CLEAVE_AARCH64_SYSROOT)  # compiler checks see it too
if(NOT CLEAVE_AARCH64_SYSROOT)
  message(FATAL_ERROR "set CLEAVE_AARCH64_SYSROOT to the folder tools/cross/aarch64-sysroot.sh filled")
endif()
# Sysroot first; the host root for header-only packages and the cross toolchain's own files.
set(CMAKE_FIND_ROOT_PATH ${CLEAVE_AARCH64_SYSROOT} /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)  # protoc and friends run on the host
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# The shared libraries' own dependencies (libprotobuf's zlib) resolve inside the sysroot.
set(AARCH64_LIBS ${CLEAVE_AARCH64_SYSROOT}/usr/lib/aarch64-linux-gnu:${CLEAVE_AARCH64_SYSROOT}/lib/aarch64-linux-gnu)
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${AARCH64_LIBS}")
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu -E LD_LIBRARY_PATH=${AARCH64_LIBS})
