# CMake toolchain for `FIPS=1 bash dist/portable.sh`: cargo-zigbuild's own (its Zig compiler
# wrappers, found through the CC_ variable it sets) with make's dependency scanning instead of
# the compiler's. AWS-LC's FIPS module compiles bcm.c to assembly (-S), and `zig cc -S` writes
# no output at all when it is also asked for a depfile (-MD), which CMake adds by default.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
get_filename_component(zig_wrappers "$ENV{CC_x86_64_unknown_linux_gnu}" DIRECTORY)
set(CMAKE_C_COMPILER "$ENV{CC_x86_64_unknown_linux_gnu}")
set(CMAKE_CXX_COMPILER "$ENV{CXX_x86_64_unknown_linux_gnu}")
set(CMAKE_AR "${zig_wrappers}/ar")
set(CMAKE_RANLIB "${zig_wrappers}/zigranlib.sh")
set(CMAKE_C_LINKER_DEPFILE_SUPPORTED FALSE)
set(CMAKE_CXX_LINKER_DEPFILE_SUPPORTED FALSE)
set(CMAKE_DEPENDS_USE_COMPILER FALSE)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
