"""
Runs the installed `openstack` and `nova` clients for the tests without
paying Python's start-up for each command (about 0.7 s of CPU: importing
openstackclient alone takes most of it). This process imports the clients
once; each command is a fork of it that sets the command's environment and
argv and calls the same `main()` the client's console script calls
(/usr/bin/openstack is `sys.exit(openstackclient.shell.main())`), with stdout
and stderr in files of its own, and exits as that script would. No state
passes from one command to the next: each runs in a fresh copy of this
process as it was after the imports.

Protocol (test/helpers/clientCommands.ts): one JSON request a line on stdin,
{"id", "module", "argv0", "args", "env", "timeout_s", "wait_poll_s"}; one
JSON answer a line on stdout, {"id", "code", "stdout", "stderr"}. A command
still running at its timeout is killed with SIGTERM (as Node's execFile
does) and answers code 1. EOF on stdin kills what still runs and exits.
"""
import atexit
import importlib
import json
import os
import selectors
import shutil
import signal
import sys
import tempfile
import time
import traceback

# Started as `python3 preloadedClients.py /usr/bin/openstack`: some modules
# read sys.argv when imported (cliff names the program after sys.argv[0]), so
# they are imported as that script would import them.
sys.argv = sys.argv[1:]

# What the openstack client imports before it parses argv, and the command
# modules the tests use: imported here once instead of in every command.
# novaclient.shell is not: its main() takes sys.argv[1:] as it is at import
# time, so a `nova` command imports it itself, in its fork.
PRELOAD = [
    'openstackclient.shell', 'novaclient.v2.client', 'novaclient.v2.servers',
    'openstackclient.compute.v2.server', 'openstackclient.compute.v2.server_event', 'openstackclient.compute.v2.server_image',
    'openstackclient.compute.v2.flavor', 'openstackclient.compute.v2.keypair', 'openstackclient.compute.v2.aggregate',
    'openstackclient.compute.v2.server_group', 'openstackclient.compute.v2.service', 'openstackclient.compute.v2.hypervisor',
    'openstackclient.compute.v2.console', 'openstackclient.compute.v2.availability_zone',
    'openstackclient.common.quota', 'openstackclient.common.limits', 'openstackclient.common.availability_zone',
    'openstackclient.network.v2.port', 'openstackclient.network.v2.network', 'openstackclient.network.v2.subnet',
    'openstackclient.network.v2.security_group', 'openstackclient.network.v2.security_group_rule',
    'openstackclient.image.v2.image', 'openstackclient.identity.v3.project', 'openstackclient.identity.v3.user',
    'openstackclient.identity.v3.role', 'openstackclient.identity.v3.token',
    'openstack.compute.v2._proxy', 'openstack.network.v2._proxy', 'openstack.image.v2._proxy', 'openstack.identity.v3._proxy',
    'keystoneauth1.identity.generic.password', 'keystoneauth1.identity.v3', 'keystoneauth1.loading._plugins.identity.generic',
]
for name in PRELOAD:
    try:
        importlib.import_module(name)
    except ImportError:
        # Another client version lays its modules out differently; the command imports what it needs.
        pass

# `--wait` polls (server create/delete/rebuild, server image create) sleep
# osc_lib's default 5 s between looks; the request may name a shorter poll.
from osc_lib import utils as osc_utils  # noqa: E402


def with_sleep_default(fn, seconds):
    names = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    defaults = list(fn.__defaults__)
    defaults[names.index('sleep_time') - (len(names) - len(defaults))] = seconds
    fn.__defaults__ = tuple(defaults)


protocol_in = os.fdopen(os.dup(0), 'rb', buffering=0)
protocol_out = os.fdopen(os.dup(1), 'wb', buffering=0)
devnull = os.open(os.devnull, os.O_RDWR)
os.dup2(devnull, 0)
os.dup2(devnull, 1)
spool = tempfile.mkdtemp(prefix='vdpa-clients-')


def run_command(req, out_fd, err_fd):
    """In the fork: becomes the command, and never returns."""
    code = 1
    try:
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        protocol_in.close()
        protocol_out.close()
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.environ.clear()
        os.environ.update(req['env'])
        if req.get('wait_poll_s') is not None:
            with_sleep_default(osc_utils.wait_for_status, req['wait_poll_s'])
            with_sleep_default(osc_utils.wait_for_delete, req['wait_poll_s'])
        sys.argv = [req['argv0'], *req['args']]
        try:
            code = importlib.import_module(req['module']).main()
        except SystemExit as e:
            code = e.code
        except BaseException:
            traceback.print_exc()
            code = 1
        # What the interpreter does with sys.exit(code) at the end of the console script.
        if code is None:
            code = 0
        elif not isinstance(code, int):
            print(code, file=sys.stderr)
            code = 1
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        os._exit(code & 0xFF)


def answer(msg):
    protocol_out.write((json.dumps(msg) + '\n').encode())


def read_spool(path):
    with open(path, 'rb') as f:
        text = f.read().decode('utf-8', 'replace')
    os.unlink(path)
    return text


selector = selectors.DefaultSelector()
selector.register(protocol_in, selectors.EVENT_READ, None)
running = {}
pending = b''

while True:
    now = time.monotonic()
    for pid, r in running.items():
        if not r['killed'] and now > r['deadline']:
            os.kill(pid, signal.SIGTERM)
            r['killed'] = True
    for key, _ in selector.select(0.5 if running else None):
        if key.data is None:
            chunk = protocol_in.read(1 << 16)
            if not chunk:
                for pid in running:
                    os.kill(pid, signal.SIGKILL)
                shutil.rmtree(spool, ignore_errors=True)
                sys.exit(0)
            pending += chunk
            while b'\n' in pending:
                line, pending = pending.split(b'\n', 1)
                req = json.loads(line)
                out_path = os.path.join(spool, f"{req['id']}.out")
                err_path = os.path.join(spool, f"{req['id']}.err")
                out_fd = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                err_fd = os.open(err_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    run_command(req, out_fd, err_fd)
                os.close(out_fd)
                os.close(err_fd)
                pidfd = os.pidfd_open(pid)
                selector.register(pidfd, selectors.EVENT_READ, pid)
                running[pid] = {
                    'id': req['id'], 'pidfd': pidfd, 'out': out_path, 'err': err_path,
                    'deadline': time.monotonic() + req['timeout_s'], 'killed': False,
                }
        else:
            r = running.pop(key.data)
            selector.unregister(r['pidfd'])
            os.close(r['pidfd'])
            _, status = os.waitpid(key.data, 0)
            code = os.waitstatus_to_exitcode(status)
            # Killed by a signal: execFile reports no exit code, which the tests' runner counts as 1.
            answer({'id': r['id'], 'code': code if code >= 0 else 1, 'stdout': read_spool(r['out']), 'stderr': read_spool(r['err'])})
