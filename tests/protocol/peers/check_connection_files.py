"""Python peer for tests/protocol/connection_interop_test.ts (run with /usr/bin/python3).

argv: <client.json> <engine.json>. Applies the reads and checks that ipyparallel 7.1 applies
to connection files (Client.__init__, IPEngine.load_connector_file,
IPController.load_config_from_json) and prints what Python derived, as JSON.
"""
import json
import os
import stat
import sys

from jupyter_client.session import Session
from ipyparallel import util

client_file, engine_file = sys.argv[1:3]
out = {}

# Client.__init__
with open(client_file) as f:
    cfg = json.load(f)
out["client_mode"] = oct(stat.S_IMODE(os.stat(client_file).st_mode))
out["task_scheme"] = cfg['task_scheme']
location = cfg.setdefault('location', None)
proto, addr = cfg['interface'].split('://')
addr = util.disambiguate_ip_address(addr, location)
cfg['interface'] = "%s://%s" % (proto, addr)
for key in ('control', 'task', 'mux', 'iopub', 'notification', 'registration', 'broadcast'):
    cfg[key] = cfg['interface'] + ':%i' % cfg[key]
session = Session(
    packer=cfg['pack'],
    unpacker=cfg['unpack'],
    key=cfg['key'].encode("utf8"),
    signature_scheme=cfg['signature_scheme'],
)
out["client_urls"] = {k: cfg[k] for k in ('control', 'task', 'mux', 'iopub', 'notification', 'registration', 'broadcast')}
out["client_ssh"] = cfg['ssh']
out["client_curve"] = cfg.get("curve_serverkey")
out["session_key"] = session.key.decode()

# IPEngine.load_connector_file (+ the url()/urls() helpers of complete_registration)
with open(engine_file) as f:
    d = json.load(f)
out["engine_mode"] = oct(stat.S_IMODE(os.stat(engine_file).st_mode))
loc = d['location']
proto, ip = d['interface'].split('://')
ip = util.disambiguate_ip_address(ip, loc)
d['interface'] = '%s://%s' % (proto, ip)
Session(key=d.get('key', '').encode('utf8'), signature_scheme=d['signature_scheme'], packer=d['pack'], unpacker=d['unpack'])
url = lambda key: str(d["interface"] + ":%i" % d[key])
out["engine_urls"] = {k: url(k) for k in ('registration', 'mux', 'task', 'control', 'iopub', 'hb_ping', 'hb_pong')}
out["engine_urls"]["broadcast"] = [f'{d["interface"]}:{port}' for port in d['broadcast']]

# IPController.load_config_from_json (--reuse)
with open(engine_file) as f:
    ecfg = json.load(f)
with open(client_file) as f:
    ccfg = json.load(f)
for key in ('key', 'registration', 'pack', 'unpack', 'signature_scheme'):
    assert ccfg[key] == ecfg[key], "mismatch between engine and client info: %r" % key
out["ok"] = True
json.dump(out, sys.stdout)
