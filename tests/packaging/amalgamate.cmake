# Writes the single-file distribution: OUTPUT_DIR/wsproto.h (the public
# header) and OUTPUT_DIR/wsproto.c (src/internal.h and every source file in
# WSPROTO_SOURCES, in one translation unit).
#
#   cmake -DWSPROTO_SOURCE_DIR=<repo> -DWSPROTO_SOURCES="src/a.c;src/b.c"
#         -DWSPROTO_VERSION=x.y.z -DOUTPUT_DIR=<dir> -P amalgamate.cmake
cmake_policy(SET CMP0057 NEW) # if(... IN_LIST ...)
foreach(var WSPROTO_SOURCE_DIR WSPROTO_SOURCES WSPROTO_VERSION OUTPUT_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "amalgamate.cmake: ${var} is not set")
  endif()
endforeach()

file(READ ${WSPROTO_SOURCE_DIR}/LICENSE license)
string(REGEX REPLACE "\n$" "" license "${license}")
string(REPLACE "\n" "\n * " license " * ${license}")
string(REPLACE " * \n" " *\n" license "${license}")
set(banner "/*
 * libwsproto ${WSPROTO_VERSION}, single-file distribution generated from the
 * project's include/ and src/ by its `amalgamation` CMake target. Compile
 * wsproto.c with any C11 compiler next to wsproto.h; define WSPROTO_DEFLATE
 * and link zlib for permessage-deflate.
 *
${license}
 */
")

file(MAKE_DIRECTORY ${OUTPUT_DIR})

file(READ ${WSPROTO_SOURCE_DIR}/include/wsproto.h header)
file(WRITE ${OUTPUT_DIR}/wsproto.h.tmp "${banner}${header}")

# entropy.c defines _GNU_SOURCE before any system header, so it goes first.
set(ordered "")
foreach(src IN LISTS WSPROTO_SOURCES)
  if(src MATCHES "entropy\\.c$")
    list(PREPEND ordered ${src})
  else()
    list(APPEND ordered ${src})
  endif()
endforeach()

# Names of file-scope statics and macros each source file defines: statics
# that two files both define get a per-file name (through a macro around that
# file), and every file's own macros are undefined after it, so the files
# behave as separate translation units would.
set(all_statics "")
foreach(src IN LISTS ordered)
  file(READ ${WSPROTO_SOURCE_DIR}/${src} text)
  string(REPLACE ";" "@SEMI@" text "${text}")
  string(REGEX MATCHALL "\nstatic[^\n]*" lines "\n${text}")
  set(names "")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "[(\\[=@].*" "" head "${line}")
    if(head MATCHES "([A-Za-z_][A-Za-z0-9_]*)[ \t]*$")
      list(APPEND names ${CMAKE_MATCH_1})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES names)
  set(statics_${src} ${names})
  list(APPEND all_statics ${names})
  string(REGEX MATCHALL "\n[ \t]*#[ \t]*define[ \t]+[A-Za-z_][A-Za-z0-9_]*" defs "\n${text}")
  set(macros "")
  foreach(def IN LISTS defs)
    string(REGEX REPLACE ".*define[ \t]+" "" def "${def}")
    if(NOT def STREQUAL "_GNU_SOURCE")
      list(APPEND macros ${def})
    endif()
  endforeach()
  list(REMOVE_DUPLICATES macros)
  set(macros_${src} ${macros})
endforeach()
set(shared_statics "")
set(seen "")
foreach(name IN LISTS all_statics)
  if(name IN_LIST seen)
    list(APPEND shared_statics ${name})
  endif()
  list(APPEND seen ${name})
endforeach()

file(READ ${WSPROTO_SOURCE_DIR}/src/internal.h internal)
set(out "${banner}")
set(internal_done FALSE)
foreach(src IN LISTS ordered)
  file(READ ${WSPROTO_SOURCE_DIR}/${src} text)
  string(FIND "${text}" "#include \"internal.h\"\n" at)
  if(at LESS 0)
    message(FATAL_ERROR "amalgamate.cmake: ${src} does not include internal.h")
  endif()
  if(NOT internal_done)
    set(inl "/* ---- src/internal.h ---- */\n#line 1 \"src/internal.h\"\n${internal}")
    set(internal_done TRUE)
  else()
    set(inl "/* (internal.h is above) */\n")
  endif()
  # Keep line numbers of the source file valid after the inlined header.
  string(SUBSTRING "${text}" 0 ${at} before)
  string(REGEX MATCHALL "\n" nl "${before}")
  list(LENGTH nl before_lines)
  math(EXPR resume "${before_lines} + 2")
  string(REPLACE "#include \"internal.h\"\n"
    "${inl}#line ${resume} \"${src}\"\n" text "${text}")
  get_filename_component(stem ${src} NAME_WE)
  set(pre "")
  set(post "")
  foreach(name IN LISTS statics_${src})
    if(name IN_LIST shared_statics)
      string(APPEND pre "#define ${name} ${name}_${stem}\n")
      string(APPEND post "#undef ${name}\n")
    endif()
  endforeach()
  foreach(name IN LISTS macros_${src})
    string(APPEND post "#undef ${name}\n")
  endforeach()
  string(APPEND out "\n/* ---- ${src} ---- */\n${pre}#line 1 \"${src}\"\n${text}")
  if(NOT text MATCHES "\n$")
    string(APPEND out "\n")
  endif()
  string(APPEND out "${post}")
endforeach()
file(WRITE ${OUTPUT_DIR}/wsproto.c.tmp "${out}")

# Replace only when changed, so dependants do not rebuild needlessly.
foreach(f wsproto.h wsproto.c)
  execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different
    ${OUTPUT_DIR}/${f}.tmp ${OUTPUT_DIR}/${f})
  file(REMOVE ${OUTPUT_DIR}/${f}.tmp)
endforeach()
