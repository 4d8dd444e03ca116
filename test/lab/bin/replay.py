# Capture UDP frames leaving a namespace's interface, then re-inject them on request: a replay
# attacker on the WAN link. Usage (inside the router's namespace): replay.py IFACE
# Prints "capturing"; on SIGUSR1 stops capturing and sends every captured frame again.
import signal, socket, sys, threading

iface = sys.argv[1]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3))
s.bind((iface, 0))
frames = []
stop = threading.Event()

def capture():
    s.settimeout(0.1)
    while not stop.is_set() and len(frames) < 20000:
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        # Outgoing IPv4 UDP frames only (pkttype 4 = PACKET_OUTGOING, ethertype 0x0800, proto 17).
        if addr[2] == 4 and len(data) > 42 and data[12:14] == b'\x08\x00' and data[23] == 17:
            # Captured before checksum offload filled it in: clear the UDP checksum (0 = none in
            # IPv4) so the receiving kernel takes the frame as it would a real attacker's.
            f = bytearray(data)
            udp = 14 + (f[14] & 0x0F) * 4
            f[udp + 6:udp + 8] = b'\x00\x00'
            frames.append(bytes(f))

t = threading.Thread(target=capture)
t.start()
go = threading.Event()
signal.signal(signal.SIGUSR1, lambda *_: go.set())
print("capturing", flush=True)
go.wait(60)
stop.set()
t.join()
for f in frames:
    s.send(f)
print(f"replayed {len(frames)}", flush=True)
