"""The minimal process both benchmarks compare with, and the line a child ends with.

The least any correct verifier does, as a whole process: ``cryptography`` loads the pinned
PEM (``argv[1]``), one RSA-PSS SHA-384 verify (salt 48) of the saved response's token
(``argv[2]``), one ``json.loads`` of its payload.
"""

MINIMAL = """
import json, sys
from base64 import urlsafe_b64decode
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
key = serialization.load_pem_public_key(open(sys.argv[1], "rb").read())
token = json.loads(open(sys.argv[2], "rb").read())["SignedToken"]
h, p, s = token.split(".")
d = lambda x: urlsafe_b64decode(x + "=" * (-len(x) % 4))
key.verify(d(s), f"{h}.{p}".encode(),
           padding.PSS(mgf=padding.MGF1(hashes.SHA384()), salt_length=48), hashes.SHA384())
json.loads(d(p))
"""

#: A child's last line: its peak RSS in KiB (``VmHWM``), read by the parent.
PEAK_RSS = 'print(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])\n'
