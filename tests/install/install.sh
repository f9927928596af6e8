#!/bin/sh
# Installs rvm into a temporary prefix (cmake --install) and checks what a user gets: the
# files, the exported symbols of the shared library (nm -D: only rvm_*), its soname, and
# programs built out of tree through pkg-config and through CMake's find_package(rvm) against
# the shared and the static library, which load the installed model and run a frame; where the
# static library looks for the model (never the source tree), and the warning an install
# under another prefix than the configured one gives for it.
# Usage: install.sh BUILD_DIR SOURCE_DIR [extra compiler flags, e.g. sanitizers]
# SPDX-License-Identifier: GPL-3.0-or-later
set -u
build=$(cd "$1" && pwd) src=$(cd "$2" && pwd)
shift 2
extra="$*"
for tool in pkg-config nm readelf cc cmake; do
  command -v $tool >/dev/null 2>&1 || { echo "SKIP: no $tool"; exit 77; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
prefix=$tmp/prefix
cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "cmake --install"; }
# Everything goes under the prefix asked for (the GStreamer plugin too): an install into a
# folder of one's own must not write to (or need root for) the system's folders.
outside=$(grep -v "^$prefix/" "$build/install_manifest.txt")
[ -z "$outside" ] || fail "installed outside --prefix $prefix: $(echo $outside)"
# The static library cannot know its prefix: installed under another than the configured one,
# the install says where its programs find the model (once).
configured=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
if [ "$(realpath -m "$configured")" != "$(realpath -m "$prefix")" ]; then
  # (CMake wraps a warning's lines)
  tr -s ' \n' '  ' <"$tmp/install.log" >"$tmp/install_flat.log"
  [ "$(grep -o "rvm: the static library librvm.a looks for the shipped model in $configured/" "$tmp/install_flat.log" | wc -l)" = 1 ] &&
    grep -q "RVM_MODEL_DIR=$prefix/share/rvm/models/rvm_mobilenetv3_tfjs_int8" "$tmp/install_flat.log" ||
    { cat "$tmp/install.log"; fail "no warning that librvm.a looks for the model under $configured, not $prefix"; }
fi
pc=$(find "$prefix" -name rvm.pc) && [ -n "$pc" ] || fail "no rvm.pc installed"
libdir=$(dirname "$(dirname "$pc")")
for f in "$prefix/include/rvm.h" "$libdir/librvm.a" "$prefix/bin/rvm" \
         "$libdir/cmake/rvm/rvmConfig.cmake" "$libdir/cmake/rvm/rvmConfigVersion.cmake" \
         "$prefix/share/man/man1/rvm.1" \
         "$prefix/share/rvm/models/rvm_mobilenetv3_tfjs_int8/model.json"; do
  [ -f "$f" ] || fail "not installed: $f"
done
so=$(readelf -d "$libdir/librvm.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ -n "$so" ] && [ -f "$libdir/$so" ] || fail "soname '$so' is not an installed file"
echo "soname $so"

# Only the public API is exported.
nm -D --defined-only "$libdir/librvm.so" | awk '{print $3}' >"$tmp/exported"
others=$(grep -v '^rvm_' "$tmp/exported")
[ -z "$others" ] || fail "exported besides rvm_*: $(echo $others)"
for f in rvm_model_load rvm_stream_create rvm_stream_process rvm_version rvm_set_log; do
  grep -qx "$f" "$tmp/exported" || fail "$f is not exported"
done
# The static archive's globals are rvm_* too (plus what it needs from others: undefined).
nm --defined-only -g "$libdir/librvm.a" | awk 'NF == 3 {print $3}' | grep -v '^rvm_' >"$tmp/static_globals"
[ ! -s "$tmp/static_globals" ] || fail "librvm.a defines globals besides rvm_*: $(head -5 "$tmp/static_globals" | tr '\n' ' ')"

# Out of tree, as a user would: only the installed files and pkg-config.
mkdir "$tmp/user"
cp "$src/tests/install/hello.c" "$src/tests/install/collide.c" "$tmp/user/"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cd "$tmp/user"
# rvm.pc alone is enough for the shared library (rvm.h includes nothing of libzip or cJSON);
# the static library's link names them (Libs.private, not Requires.private, which made
# pkg-config fail without libzip.pc and libcjson.pc).
only_rvm_pc() { PKG_CONFIG_LIBDIR="$libdir/pkgconfig" PKG_CONFIG_PATH= pkg-config "$@"; }
only_rvm_pc --cflags --libs rvm >pc.txt 2>&1 || fail "pkg-config --cflags --libs rvm needs more than rvm.pc: $(cat pc.txt)"
only_rvm_pc --static --libs rvm >pc.txt 2>&1 || fail "pkg-config --static --libs rvm needs more than rvm.pc: $(cat pc.txt)"
for l in -lzip -lcjson; do
  grep -q -- "$l\b" pc.txt || fail "pkg-config --static --libs rvm lacks $l: $(cat pc.txt)"
done
[ "$(pkg-config --modversion rvm)" = "$(sed -n 's/^#define RVM_VERSION_MAJOR //p;s/^#define RVM_VERSION_MINOR //p;s/^#define RVM_VERSION_PATCH //p' "$src/include/rvm.h" | paste -sd.)" ] ||
  fail "pkg-config --modversion rvm: $(pkg-config --modversion rvm)"
# The installed header alone, in the oldest C and C++ a user's program may be written in and
# the newest, pedantically (a comma after an enum's last member is an error in C89 and C++98).
printf '#include <rvm.h>\nint main(void) { return rvm_version() > 0 ? 0 : 1; }\n' >header.c
for std in c89 c99 c11 c17; do
  cc -std=$std -Wall -Wextra -pedantic -Werror -c header.c $(pkg-config --cflags rvm) -o header.o ||
    fail "rvm.h alone does not compile as -std=$std -pedantic"
done
if command -v c++ >/dev/null 2>&1; then
  cp header.c header.cpp
  for std in c++98 c++11 c++17 c++20; do
    c++ -std=$std -Wall -Wextra -pedantic -Werror -c header.cpp $(pkg-config --cflags rvm) -o header.o ||
      fail "rvm.h alone does not compile as -std=$std -pedantic"
  done
fi
cc $extra -o hello hello.c $(only_rvm_pc --cflags --libs rvm) -Wl,-rpath,"$libdir" || fail "building against the shared library"
# The installed library finds the installed model beside itself (not the source tree's).
out=$(env -u RVM_MODEL_DIR ./hello) || fail "the shared-library program failed"
echo "shared: $out"
case $out in *"model $prefix/share/rvm/models/"*) ;; *) fail "the installed model was not the one found";; esac
# Statically, with internal names of rvm defined by the program itself.
static_libs=$(only_rvm_pc --static --libs rvm | sed 's/-lrvm\b/-l:librvm.a/')
cc $extra -o hello_static hello.c collide.c $(only_rvm_pc --cflags rvm) $static_libs || fail "building against the static library"
ldd hello_static | grep -q librvm && fail "hello_static uses the shared library"
out2=$(RVM_MODEL_DIR="$prefix/share/rvm/models/rvm_mobilenetv3_tfjs_int8" ./hello_static) || fail "the static program failed"
echo "static: $out2"
[ "${out#* output-sum }" = "${out2#* output-sum }" ] || fail "shared and static runs differ"
# Without RVM_MODEL_DIR, a statically linked program outside the prefix never takes the
# source tree's model (it was found while the clone lasted): the configured prefix's, or none.
configured_model=$configured/share/rvm/models/rvm_mobilenetv3_tfjs_int8
if out7=$(env -u RVM_MODEL_DIR ./hello_static 2>err7.txt); then
  case $out7 in
    *"model $configured_model output-sum"*) ;;
    *) fail "the static program took another model than the configured prefix's: $out7" ;;
  esac
else
  [ ! -d "$configured_model" ] && grep -q "the shipped model was not found: set RVM_MODEL_DIR to the model's folder" err7.txt ||
    fail "the static program without RVM_MODEL_DIR: $(cat err7.txt)"
fi
echo "static, no RVM_MODEL_DIR: ${out7:-$(cat err7.txt)}"
# Installed in <prefix>/bin, it finds the prefix's model, also when run by its bare name through
# PATH from another folder (glibc's dladdr gives argv[0] then).
cp hello_static "$prefix/bin/rvm_hello_static"
out8=$(cd / && PATH="$prefix/bin:$PATH" env -u RVM_MODEL_DIR rvm_hello_static) ||
  fail "the static program in $prefix/bin failed"
case $out8 in *"model $prefix/share/rvm/models/"*) ;; *) fail "the static program in $prefix/bin: $out8";; esac
rm "$prefix/bin/rvm_hello_static"

# Through CMake, as a CMake project would: find_package(rvm <version> REQUIRED), the imported
# targets rvm::rvm and rvm::rvm_static; the programs give the pkg-config builds' numbers.
version=$(pkg-config --modversion rvm)
cp "$src/tests/install/CMakeLists.txt" "$tmp/user/"
if ! cmake -S "$tmp/user" -B "$tmp/user/build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DRVM_WANTED_VERSION="$version" -DCMAKE_C_FLAGS="$extra" >"$tmp/cmake.log" 2>&1 ||
   ! cmake --build "$tmp/user/build" >>"$tmp/cmake.log" 2>&1; then
  cat "$tmp/cmake.log"; fail "a CMake project using find_package(rvm)"
fi
grep -q "^rvm_DIR:PATH=$libdir/cmake/rvm\$" "$tmp/user/build/CMakeCache.txt" ||
  fail "find_package(rvm) found $(grep ^rvm_DIR "$tmp/user/build/CMakeCache.txt"), not the installed one"
out3=$(env -u RVM_MODEL_DIR "$tmp/user/build/hello") || fail "the CMake-built shared-library program failed"
echo "cmake shared: $out3"
[ "$out3" = "$out" ] || fail "the CMake-built program differs from the pkg-config one"
readelf -d "$tmp/user/build/hello" | grep -q "NEEDED.*\[$so\]" || fail "hello does not need $so"
ldd "$tmp/user/build/hello_static" | grep -q librvm && fail "the CMake-built hello_static uses the shared library"
out4=$(RVM_MODEL_DIR="$prefix/share/rvm/models/rvm_mobilenetv3_tfjs_int8" "$tmp/user/build/hello_static") ||
  fail "the CMake-built static program failed"
[ "$out4" = "$out2" ] || fail "the CMake-built static program differs from the pkg-config one"
# Another minor version (the ABI of a 0.x release) is not taken for this one.
major=${version%%.*} rest=${version#*.} minor=${rest%%.*}
if [ "$major" = 0 ]; then other="0.$((minor + 1))"; else other="$((major + 1)).0"; fi
if cmake -S "$tmp/user" -B "$tmp/user/build_other" -DCMAKE_PREFIX_PATH="$prefix" \
     -DRVM_WANTED_VERSION="$other" >"$tmp/cmake_other.log" 2>&1; then
  fail "find_package(rvm $other) accepted the installed $version"
fi
# The prefix moved elsewhere: the config finds the files beside itself.
mv "$prefix" "$tmp/moved"
cmake -S "$tmp/user" -B "$tmp/user/build_moved" -DCMAKE_PREFIX_PATH="$tmp/moved" \
  -DCMAKE_C_FLAGS="$extra" >"$tmp/cmake_moved.log" 2>&1 && cmake --build "$tmp/user/build_moved" \
  --target hello >>"$tmp/cmake_moved.log" 2>&1 || { cat "$tmp/cmake_moved.log"; fail "find_package(rvm) in a moved prefix"; }
out5=$(env -u RVM_MODEL_DIR "$tmp/user/build_moved/hello") || fail "the moved prefix's program failed"
[ "${out5#* output-sum }" = "${out#* output-sum }" ] || fail "the moved prefix's program differs"
mv "$tmp/moved" "$prefix"
# An installation of the static library alone (a packager's static build): find_package(rvm)
# finds it and gives rvm::rvm_static, with no rvm::rvm (it refused the whole package).
cp -a "$prefix" "$tmp/static_only"
rm -f "$tmp/static_only/${libdir#"$prefix"/}"/librvm.so*
cmake -S "$tmp/user" -B "$tmp/user/build_static_only" -DCMAKE_PREFIX_PATH="$tmp/static_only" \
  -DRVM_STATIC_ONLY=ON -DCMAKE_C_FLAGS="$extra" >"$tmp/cmake_static.log" 2>&1 &&
  cmake --build "$tmp/user/build_static_only" >>"$tmp/cmake_static.log" 2>&1 ||
  { cat "$tmp/cmake_static.log"; fail "find_package(rvm) in a static-only installation"; }
[ ! -e "$tmp/user/build_static_only/hello" ] || fail "rvm::rvm defined without the shared library"
out6=$(RVM_MODEL_DIR="$prefix/share/rvm/models/rvm_mobilenetv3_tfjs_int8" "$tmp/user/build_static_only/hello_static") ||
  fail "the static-only installation's program failed"
[ "$out6" = "$out2" ] || fail "the static-only installation's program differs"
rm -rf "$tmp/static_only"
echo "cmake: ok"

"$prefix/bin/rvm" --version | grep -q "^rvm " || fail "installed rvm --version"
echo "install: ok"
