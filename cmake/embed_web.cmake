# SPDX-License-Identifier: GPL-3.0-or-later
# Writes OUTPUT, a C file holding the files FILES (from DIR) as byte arrays: the page of
# `rvm serve` is part of the program, so it works offline and cannot drift from it.
# cmake -DDIR=... -DOUTPUT=... -DFILES="a;b" -P embed_web.cmake
set(body "/* Generated from src/serve/web by cmake/embed_web.cmake; do not edit. */\n#include \"serve/serve.h\"\n")
set(table "")
set(i 0)
foreach(name ${FILES})
  file(READ "${DIR}/${name}" hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR size "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
  string(APPEND body "static const unsigned char asset_${i}[] = {\n${bytes}0};\n")
  string(APPEND table "    {\"${name}\", asset_${i}, ${size}},\n")
  math(EXPR i "${i} + 1")
endforeach()
string(APPEND body "const rvmi_web_asset rvmi_web_assets[] = {\n${table}};\nconst size_t rvmi_web_asset_count = ${i};\n")
file(WRITE "${OUTPUT}.tmp" "${body}")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
