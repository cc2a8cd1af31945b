# Injected by ros_interfaces/build.py through -DCMAKE_PROJECT_INCLUDE=<this file>.
#
# The PyPI ROS 2 wheels (ros-python-wheels) were built in a manylinux image, so
# the exported CMake targets <pkg>::<pkg>__rosidl_generator_py of every message
# wheel (std_msgs, geometry_msgs, builtin_interfaces, ...) carry that image's
# Python and NumPy include directories in INTERFACE_INCLUDE_DIRECTORIES, e.g.
#   /opt/python/cp311-cp311/include/python3.11
#   /opt/python/cp311-cp311/lib/python3.11/site-packages/numpy/_core/include
# Those paths do not exist here and CMake refuses to generate a build that
# links an imported target with a non-existent include path.
#
# Rather than editing the installed wheels, this file defers a call to the end
# of the top-level CMakeLists.txt (after find_package() created the imported
# targets, before the build system is generated) that replaces such missing
# Python / NumPy include paths, on the imported targets of this build only, with
# the include paths of the interpreter given as Python3_EXECUTABLE (the venv's).

function(_venv_fix_python_include_dirs)
  find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module NumPy)
  get_property(_targets DIRECTORY "${CMAKE_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  set(_fixed 0)
  foreach(_target IN LISTS _targets)
    get_target_property(_type ${_target} TYPE)
    if(_type STREQUAL "INTERFACE_LIBRARY" OR _type STREQUAL "UNKNOWN_LIBRARY" OR
       _type STREQUAL "SHARED_LIBRARY" OR _type STREQUAL "STATIC_LIBRARY")
      get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
      if(NOT _dirs)
        continue()
      endif()
      set(_new_dirs)
      set(_changed FALSE)
      foreach(_dir IN LISTS _dirs)
        if(NOT _dir MATCHES "^\\$<" AND NOT EXISTS "${_dir}")
          if(_dir MATCHES "numpy/(_core|core)/include$")
            list(APPEND _new_dirs ${Python3_NumPy_INCLUDE_DIRS})
            set(_changed TRUE)
            continue()
          elseif(_dir MATCHES "/include/python3\\.[0-9]+[a-z]*$")
            list(APPEND _new_dirs ${Python3_INCLUDE_DIRS})
            set(_changed TRUE)
            continue()
          endif()
        endif()
        list(APPEND _new_dirs "${_dir}")
      endforeach()
      if(_changed)
        list(REMOVE_DUPLICATES _new_dirs)
        set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_new_dirs}")
        math(EXPR _fixed "${_fixed} + 1")
      endif()
    endif()
  endforeach()
  message(STATUS "venv_python_fixup: pointed ${_fixed} imported targets at "
    "${Python3_INCLUDE_DIRS};${Python3_NumPy_INCLUDE_DIRS}")
endfunction()

cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL _venv_fix_python_include_dirs)
