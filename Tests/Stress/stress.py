#!/usr/bin/env python3
"""make stress: a long, seeded run of the whole pipeline under faults, then its invariants.

For --seconds (default 300), a seeded random schedule mixes:
  - shops creating payments and cancelling some (qrpay-shop create/cancel),
  - users approving registered payments from their QR PNGs (qrpay-user approve),
  - the PG's stages (qrpay-register, qrpay-approve, qrpay-settle) run --once, some killed with
    SIGKILL at a random instant, and --watch instances that run for a while and are killed,
  - faults that come and go: a disk that fills and frees (a tmpfs filled to ENOSPC), directories
    that turn read-only for a while (read-only bind mounts), a stale CRL,
  - hand edits of the ledger's indexes, one at a time, undone a few steps later: a record's state
    made final (finish, or expire for a finished one), a state marker deleted or moved to another
    state, a due entry added for a settled payment. Right after each, `qrpay-spool check` must name
    it (record.journal, marker.missing, marker.extra, due.extra); meanwhile the stages must not act
    on it (the final invariants below show they did not).
Then every fault is cleared, the queues are drained (deferred files flushed), the clock is moved
past every hold and expiry, and the invariants are checked:
  1. every input is in exactly one final place: the PG's queues hold nothing in tmp/, new/, cur/,
     deferred/ or hold/; every quarantined file has a reason whose code is a fault of the input;
  2. every payment a shop created (its client said 0) has exactly one record, in exactly one final
     state, the one the inputs imply (approved and not cancelled: finish; cancelled and not
     approved: cancel; both: cancel or finish; neither: expire);
  3. every state change is journaled exactly once, in order, and its notice and receipt delivered;
     no notice or receipt tells of a state the journal does not hold for that payment;
  4. `qrpay-spool check` finds nothing;
  5. `qrpay-reconcile`'s counts and totals by state equal a model computed from the inputs.
No program may exit 64 (usage) or 70 (internal error) or die of a signal it was not sent.

The faults that need root (tmpfs, bind mounts) are skipped with a printed reason otherwise.
Exit 0 when every invariant holds, 1 otherwise (each violation printed), 2 on a set-up failure.
"""

import argparse
import collections
import glob
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PASSWORD = "stress secret\n"
SHOPS = ["S1", "S2", "S3"]
USERS = ["u1", "u2", "u3"]
QUEUES = ["pg/inbox", "pg/approvals", "pg/cancels"]
FINAL = {"finish", "cancel", "expire"}


class Stress:
    def __init__(self, args):
        self.args = args
        self.bin = os.path.abspath(args.bin)
        self.rng = random.Random(args.seed)
        self.work = args.work or tempfile.mkdtemp(prefix="qrpay-stress-")
        os.makedirs(self.work, exist_ok=True)
        self.root = os.geteuid() == 0 and not args.no_root_faults
        self.mount = os.path.join(self.work, "fs")
        self.mounted = []  # bind mounts to undo, innermost last
        self.spool = None
        self.violations = []
        self.exits = collections.Counter()
        self.created = {}  # (shop, payment) -> {"total", "currency", "approved", "cancelled", "user"}
        self.attempted = set()
        self.registered = []  # (shop, payment) whose QR exists
        self.watchers = {}  # stage -> Popen
        self.filler = None
        self.crl_stale = False
        self.kills = 0
        self.step = 0
        self.fault_ends = {}  # fault -> the step it clears at (faults come and go)
        self.counter = 0
        self.tampered = None  # (kind, undo) of the hand edit in place
        self.tampers = collections.Counter()
        self.log = open(os.path.join(self.work, "stress.log"), "w")

    # --- running programs -------------------------------------------------------------------

    def env(self, clock=None):
        e = dict(os.environ, QRPAY_SPOOL=self.spool)
        e.pop("QRPAY_CLOCK", None)
        if clock:
            e["QRPAY_CLOCK"] = clock
        return e

    def note(self, text):
        self.log.write(text + "\n")
        self.log.flush()

    def judge(self, program, args, rc, err, killed=False):
        key = f"{program} {args[0] if args and not args[0].startswith('-') else ''}".strip()
        self.exits[(key, "killed" if killed else rc)] += 1
        self.note(f"{key} {' '.join(args[1:6])} -> {'killed' if killed else rc} {err.strip()[-300:]}")
        if killed:
            return
        if rc in (64, 70) or rc < 0:
            self.violations.append(f"{key} exited {rc}: {err.strip()[-400:]}")

    def run(self, program, args, clock=None, timeout=180):
        p = subprocess.run([os.path.join(self.bin, program)] + args, env=self.env(clock), capture_output=True,
                           text=True, timeout=timeout)
        self.judge(program, args, p.returncode, p.stderr)
        return p

    def must(self, program, args):
        p = self.run(program, args)
        if p.returncode != 0:
            raise SystemExit(f"stress: set-up failed: {program} {' '.join(args)} exited {p.returncode}: {p.stderr}")
        return p

    def stage(self, name):
        return ["--password-file", self.pw, "--once"] + (["--hold", "3s"] if name == "qrpay-settle" else [])

    def run_stage(self, name, kill_after=None):
        args = self.stage(name)
        p = subprocess.Popen([os.path.join(self.bin, name)] + args, env=self.env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
        killed = False
        if kill_after is not None:
            try:
                p.wait(timeout=kill_after)
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                killed = True
                self.kills += 1
        _, err = p.communicate(timeout=300)
        self.judge(name, args, p.returncode, err or "", killed=killed)

    # --- set-up ---------------------------------------------------------------------------------

    def setup(self):
        if self.root:
            os.makedirs(self.mount, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0755", "tmpfs", self.mount], check=True)
            self.mounted.append(self.mount)
            self.spool = os.path.join(self.mount, "Spool")
        else:
            print("stress: not root: no full disk (tmpfs) and no read-only directories (bind mounts) in this run")
            self.spool = os.path.join(self.work, "Spool")
        self.pw = os.path.join(self.work, "secret.pass")
        with open(self.pw, "w") as f:
            f.write(PASSWORD)
        self.must("qrpay-ca", ["init", "--name", "Stress CA", "--password-file", self.pw])
        self.must("qrpay-ca", ["issue", "--role", "pg", "--id", "PG1", "--name", "Stress Gateway", "--ca-password-file", self.pw,
                               "--password-file", self.pw])
        names = {"S1": "Bakery One", "S2": "Coffee Two", "S3": "Noodles Three"}
        for s in SHOPS:
            self.must("qrpay-ca", ["issue", "--role", "shop", "--id", s, "--name", names[s], "--ca-password-file", self.pw,
                                   "--password-file", self.pw])
        for u in USERS:
            self.must("qrpay-ca", ["issue", "--role", "user", "--id", u, "--name", "User " + u, "--ca-password-file", self.pw,
                                   "--password-file", self.pw])
        self.must("qrpay-spool", ["init"])
        codes = json.loads(self.must("qrpay-spool", ["errors", "--json"]).stdout)
        self.input_codes = {c["code"] for c in codes["codes"] if c["fault"] == "input"}

    # --- actions --------------------------------------------------------------------------------

    def create(self):
        shop = self.rng.choice(SHOPS)
        self.counter += 1
        payment = f"{shop}-{self.counter:05d}"
        currency = self.rng.choice(["KRW", "KRW", "USD"])
        items, total = [], 0
        for i in range(self.rng.randint(1, 3)):
            qty, unit = self.rng.randint(1, 4), self.rng.randint(1, 5000) * (1 if currency == "USD" else 100)
            items += ["--item", f"Item{i}:{qty}:{unit}"]
            total += qty * unit
        self.attempted.add((shop, payment))
        p = self.run("qrpay-shop", ["create", "--shop", shop, "--password-file", self.pw, "--currency", currency,
                                    "--payment", payment, "--expires-in", "40m"] + items)
        if p.returncode == 0:
            self.created[(shop, payment)] = {"total": total, "currency": currency, "approved": False, "cancelled": False}

    def approve(self):
        open_ones = [k for k in self.created if not self.created[k]["approved"]
                     and os.path.exists(os.path.join(self.spool, "shops", k[0], "qr", k[1] + ".png"))]
        if not open_ones:
            return
        shop, payment = self.rng.choice(open_ones)
        user = self.rng.choice(USERS)
        m = self.created[(shop, payment)]
        p = self.run("qrpay-user", ["approve", "--user", user, "--password-file", self.pw, "--expect-shop", shop,
                                    "--expect-total", str(m["total"]), "--expect-payment", payment,
                                    os.path.join(self.spool, "shops", shop, "qr", payment + ".png")])
        if p.returncode == 0:
            m["approved"] = True
            m["user"] = user

    def cancel(self):
        candidates = [k for k in self.created if not self.created[k]["cancelled"]]
        if not candidates:
            return
        shop, payment = self.rng.choice(candidates)
        p = self.run("qrpay-shop", ["cancel", "--shop", shop, "--password-file", self.pw, "--reason", "stress", payment])
        if p.returncode == 0:
            self.created[(shop, payment)]["cancelled"] = True

    def some_stage(self):
        name = self.rng.choice(["qrpay-register", "qrpay-register", "qrpay-approve", "qrpay-settle"])
        kill = self.rng.uniform(0.05, 1.2) if self.rng.random() < 0.35 else None
        self.run_stage(name, kill_after=kill)

    def toggle_watch(self):
        name = self.rng.choice(["qrpay-register", "qrpay-approve", "qrpay-settle"])
        w = self.watchers.pop(name, None)
        if w is None:
            args = ["--password-file", self.pw, "--watch"] + (["--hold", "3s"] if name == "qrpay-settle" else [])
            self.watchers[name] = subprocess.Popen([os.path.join(self.bin, name)] + args, env=self.env(),
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.note(f"{name} --watch started")
        else:
            how = self.rng.choice([signal.SIGKILL, signal.SIGTERM])
            w.send_signal(how)
            rc = w.wait(timeout=120)
            self.note(f"{name} --watch stopped by {how.name}: {rc}")
            if how == signal.SIGKILL:
                self.kills += 1
            elif rc not in (0, 65, 75, 73, 74, 77):
                self.violations.append(f"{name} --watch exited {rc} on SIGTERM")

    def toggle_disk(self):
        if not self.root:
            return
        if self.filler:
            os.unlink(self.filler)
            self.filler = None
            self.note("disk freed")
            return
        self.filler = os.path.join(self.mount, "filler")
        chunk = b"\0" * (1 << 20)
        with open(self.filler, "wb") as f:
            try:
                while True:
                    f.write(chunk)
                    f.flush()
            except OSError:
                pass
        # The last few KiB too: every write now fails with ENOSPC.
        try:
            with open(self.filler, "ab") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()
        except OSError:
            pass
        self.fault_ends["disk"] = self.step + self.rng.randint(2, 10)
        self.note("disk full")

    def readonly_candidates(self):
        return [os.path.join(self.spool, d) for d in
                ["pg/journal", "pg/states", "pg/payments", "pg/list", "shops/S1/notices/new", "users/u1/receipts/new",
                 "pg/approvals/new", "pg/inbox/cur", "pg/due"]]

    def toggle_readonly(self):
        if not self.root:
            return
        binds = [m for m in self.mounted if m != self.mount]
        if binds and self.rng.random() < 0.6:
            d = binds[-1]
            subprocess.run(["umount", d], check=True)
            self.mounted.remove(d)
            self.note(f"{d} writable again")
            return
        d = self.rng.choice(self.readonly_candidates())
        if not os.path.isdir(d) or d in self.mounted:
            return
        subprocess.run(["mount", "--bind", d, d], check=True)
        self.mounted.append(d)
        subprocess.run(["mount", "-o", "remount,bind,ro", d], check=True)
        self.fault_ends["readonly"] = self.step + self.rng.randint(2, 10)
        self.note(f"{d} read-only")

    def toggle_crl(self):
        if self.crl_stale:
            if self.run("qrpay-ca", ["crl", "--ca-password-file", self.pw, "--valid-for", "7d"]).returncode == 0:
                self.crl_stale = False
                self.note("CRL fresh")
            else:
                self.fault_ends["crl"] = self.step + 2  # the disk is full: try again soon
        else:
            # Valid for a second: stale from then on, until re-issued.
            self.run("qrpay-ca", ["crl", "--ca-password-file", self.pw, "--valid-for", "1s"])
            self.crl_stale = True
            self.fault_ends["crl"] = self.step + self.rng.randint(3, 12)
            self.note("CRL stale")

    # --- hand edits of the indexes ------------------------------------------------------------

    def old_records(self):
        """Records untouched for over a minute (check is lenient with what stages may be changing)."""
        out = []
        now = time.time()
        for path in glob.glob(os.path.join(self.spool, "pg", "payments", "*", "*", "*.json")):
            try:
                if now - os.lstat(path).st_mtime < 75:
                    continue
                rec = json.load(open(path))
            except (OSError, ValueError):
                continue
            out.append((path, rec))
        return out

    def marker(self, rec, state=None):
        name = f"{rec['shop']}~{rec['payment']}~{rec['currency']}~{rec['total']}"
        return os.path.join(self.spool, "pg", "states", state or rec["state"], rec["created"][:10], name)

    @staticmethod
    def put(path, data):
        """Replaces the file, keeping its times (as `touch -r` would: check cannot tell it by its age)."""
        st = os.stat(path)
        tmp = path + ".stress-tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o640)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.rename(tmp, path)

    def tamper(self):
        if self.tampered:
            self.untamper()
            return
        records = self.old_records()
        if not records:
            return
        path, rec = self.rng.choice(records)
        kind = self.rng.choice(["record-state", "marker-delete", "marker-move", "due-add"])
        if kind == "record-state":
            original = open(path, "rb").read()
            edited = dict(rec, state="finish" if rec["state"] != "finish" else "expire")
            self.put(path, json.dumps(edited, indent=2).encode())
            expect = "record.journal"

            def undo():
                try:
                    if json.load(open(path)).get("state") == edited["state"]:
                        self.put(path, original)
                except (OSError, ValueError):
                    pass
        elif kind in ("marker-delete", "marker-move"):
            marker = self.marker(rec)
            if not os.path.exists(marker):
                return
            times = os.stat(marker)
            if kind == "marker-delete":
                os.unlink(marker)
                moved, expect = None, "marker.missing"
            else:
                other = self.rng.choice([s for s in ["finish", "cancel", "expire"] if s != rec["state"]])
                moved = self.marker(rec, other)
                os.makedirs(os.path.dirname(moved), exist_ok=True)
                os.rename(marker, moved)
                expect = "marker.extra"

            def undo():
                if moved and os.path.exists(moved):
                    os.unlink(moved)
                try:
                    current = json.load(open(path))
                except (OSError, ValueError):
                    return
                if current.get("state") == rec["state"] and not os.path.exists(marker):
                    os.makedirs(os.path.dirname(marker), exist_ok=True)
                    open(marker, "wb").close()
                    os.chmod(marker, 0o640)
                    os.utime(marker, ns=(times.st_atime_ns, times.st_mtime_ns))  # as it was (check reads ages)
        else:
            if rec["state"] not in FINAL:
                return
            epoch = int(time.time()) - 120
            minute = time.strftime("%Y%m%dT%H%M", time.gmtime(epoch))
            entry = os.path.join(self.spool, "pg", "due", "expires", minute, f"{epoch}~{rec['shop']}~{rec['payment']}")
            os.makedirs(os.path.dirname(entry), exist_ok=True)
            open(entry, "wb").close()
            expect = "due.extra"

            def undo():
                if os.path.exists(entry):
                    os.unlink(entry)
        self.tampers[kind] += 1
        self.note(f"tamper {kind} {rec['shop']}/{rec['payment']} ({rec['state']})")
        check = self.run("qrpay-spool", ["check", "--json"])
        try:
            codes = {f.get("code") for f in json.loads(check.stdout).get("findings", [])}
        except ValueError:
            codes = set()
        if expect not in codes:
            self.violations.append(f"check did not name a hand edit ({kind} of {rec['shop']}/{rec['payment']}, {rec['state']}): "
                                   f"wanted {expect}, found {sorted(codes)}")
        self.tampered = (kind, undo)
        self.fault_ends["tamper"] = self.step + self.rng.randint(2, 8)

    def untamper(self):
        if self.tampered:
            kind, undo = self.tampered
            undo()
            self.tampered = None
            self.note(f"tamper {kind} undone")

    def clear_faults(self):
        self.untamper()
        for name, w in list(self.watchers.items()):
            w.send_signal(signal.SIGTERM)
            w.wait(timeout=120)
        self.watchers.clear()
        if self.filler:
            os.unlink(self.filler)
            self.filler = None
        for d in reversed([m for m in self.mounted if m != self.mount]):
            subprocess.run(["umount", d], check=True)
            self.mounted.remove(d)
        if self.crl_stale:
            self.toggle_crl()
        # The CRL may have been re-issued while the disk was full: make sure a fresh one is in place.
        self.must("qrpay-ca", ["crl", "--ca-password-file", self.pw, "--valid-for", "7d"])

    def teardown(self):
        for w in self.watchers.values():
            w.kill()
        if self.args.keep and self.spool and self.root and os.path.isdir(self.spool):
            subprocess.run(["cp", "-a", self.spool, os.path.join(self.work, "Spool")])
        for d in reversed(self.mounted):
            subprocess.run(["umount", "-l", d])
        self.mounted.clear()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    # --- the run --------------------------------------------------------------------------------

    def schedule(self):
        actions = [(self.create, 5), (self.approve, 5), (self.cancel, 1), (self.some_stage, 6), (self.toggle_watch, 1),
                   (self.toggle_disk, 0.4), (self.toggle_readonly, 0.6), (self.toggle_crl, 0.3), (self.tamper, 1)]
        fns, weights = zip(*actions)
        end = time.monotonic() + self.args.seconds
        steps = 0
        last = time.monotonic()
        while time.monotonic() < end:
            self.rng.choices(fns, weights)[0]()
            steps += 1
            self.step = steps
            # A fault lasts a few steps, then the disk frees, the directory is writable, the CRL fresh.
            for fault, until in list(self.fault_ends.items()):
                if steps < until:
                    continue
                del self.fault_ends[fault]
                if fault == "disk" and self.filler:
                    self.toggle_disk()
                elif fault == "readonly" and any(m != self.mount for m in self.mounted):
                    d = [m for m in self.mounted if m != self.mount][-1]
                    subprocess.run(["umount", d], check=True)
                    self.mounted.remove(d)
                    self.note(f"{d} writable again")
                elif fault == "crl" and self.crl_stale:
                    self.toggle_crl()
                elif fault == "tamper":
                    self.untamper()
            if time.monotonic() - last > 15:
                last = time.monotonic()
                left = int(end - time.monotonic())
                print(f"stress: {steps} steps, {len(self.created)} payments, {self.kills} kills, {left}s left", flush=True)
        return steps

    def queue_leftovers(self):
        left = []
        for q in QUEUES:
            for sub in ["tmp", "new", "cur", "deferred", "hold"]:
                for name in os.listdir(os.path.join(self.spool, q, sub)) if os.path.isdir(os.path.join(self.spool, q, sub)) else []:
                    if not name.startswith(".") and not name.endswith(".reason.json"):
                        left.append(f"{q}/{sub}/{name}")
        return left

    def drain(self):
        for round in range(40):
            self.run("qrpay-spool", ["flush"])
            for name in ["qrpay-register", "qrpay-approve", "qrpay-settle"]:
                self.run_stage(name)
            if not self.queue_leftovers():
                break
            time.sleep(1)
        # Past every hold and expiry: accepted payments finish, open requests expire.
        self.run("qrpay-settle", ["--password-file", self.pw, "--hold", "3s", "--once"], clock="+7200")

    # --- invariants ------------------------------------------------------------------------------

    def check(self):
        v = self.violations
        for item in self.queue_leftovers():
            v.append(f"left in a queue: {item}")
        quarantined = 0
        for q in QUEUES:
            for path in glob.glob(os.path.join(self.spool, q, "quarantine", "*.reason.json")):
                quarantined += 1
                reason = json.load(open(path))
                if reason.get("code") not in self.input_codes:
                    v.append(f"{os.path.relpath(path, self.spool)}: quarantined for {reason.get('code')}, not a fault of the input: {reason.get('reason')}")
                if not os.path.exists(path[: -len(".reason.json")]):
                    v.append(f"{os.path.relpath(path, self.spool)}: a reason without its file")
        records = {}
        for path in glob.glob(os.path.join(self.spool, "pg", "payments", "*", "*", "*.json")):
            rec = json.load(open(path))
            shop, payment = rec["shop"], rec["payment"]
            records[(shop, payment)] = rec
            bucket = hashlib.sha256(payment.encode()).hexdigest()[:2]
            if path != os.path.join(self.spool, "pg", "payments", shop, bucket, payment + ".json"):
                v.append(f"record in the wrong place: {path}")
        for key in records:
            if key not in self.attempted:
                v.append(f"a record nobody created: {key}")
            elif key not in self.created:
                self.note(f"{key}: registered although its client did not say 0 (the delivery happened before the failure)")
        journal = collections.defaultdict(list)
        for path in sorted(glob.glob(os.path.join(self.spool, "pg", "journal", "*.jsonl"))):
            for line in open(path):
                if line.strip():
                    e = json.loads(line)
                    if "kind" in e:
                        continue  # payouts and accounts share the chain
                    journal[(e["shop"], e["payment"])].append(e["to"])
        model = collections.defaultdict(lambda: [0, 0])
        for key, m in self.created.items():
            rec = records.get(key)
            if rec is None:
                v.append(f"{key}: created (exit 0) but never registered")
                continue
            state = rec["state"]
            if state not in FINAL:
                v.append(f"{key}: still {state} after the drain")
            if m["approved"] and not m["cancelled"]:
                want = {"finish"}
            elif m["cancelled"] and not m["approved"]:
                want = {"cancel"}
            elif m["cancelled"] and m["approved"]:
                want = {"cancel", "finish"}
            else:
                want = {"expire"}
            if state not in want:
                v.append(f"{key}: {state}, but the inputs imply {'/'.join(sorted(want))} ({m})")
            history = [h["state"] for h in rec["history"]]
            if journal.get(key, []) != history:
                v.append(f"{key}: journal {journal.get(key)} != history {history}")
            if rec["total"] != m["total"] or rec["currency"] != m["currency"]:
                v.append(f"{key}: recorded {rec['currency']} {rec['total']}, created {m['currency']} {m['total']}")
            for s in history:
                notice = os.path.join(self.spool, "shops", key[0], "notices", "new", f"{key[1]}.{s}.json")
                if not os.path.exists(notice):
                    v.append(f"{key}: no notice {os.path.relpath(notice, self.spool)}")
            if "accept" in history:
                user = rec.get("user")
                for s in [x for x in history if x != "request"]:
                    receipt = os.path.join(self.spool, "users", str(user), "receipts", "new", f"{key[0]}.{key[1]}.{s}.json")
                    if not os.path.exists(receipt):
                        v.append(f"{key}: no receipt {os.path.relpath(receipt, self.spool)}")
            # The model's totals come from the inputs; the state from the record only where the inputs allow two.
            chosen = state if state in want else sorted(want)[0]
            model[(chosen, m["currency"])][0] += 1
            model[(chosen, m["currency"])][1] += m["total"]
        # No notice or receipt of a state the journal does not hold for the payment.
        for path in glob.glob(os.path.join(self.spool, "shops", "*", "notices", "*", "*.json")) + \
                glob.glob(os.path.join(self.spool, "shops", "*", "notices", "done", "*", "*.json")):
            parts = os.path.basename(path)[: -len(".json")].split(".")
            shop = path.split(os.sep)[-4] if "/done/" not in path else path.split(os.sep)[-5]
            if len(parts) == 2 and parts[1] in FINAL | {"request", "accept"} and parts[1] not in journal.get((shop, parts[0]), []):
                v.append(f"{os.path.relpath(path, self.spool)}: a notice of {parts[1]}, which the journal does not hold for {shop}/{parts[0]}")
        for path in glob.glob(os.path.join(self.spool, "users", "*", "receipts", "*", "*.json")):
            parts = os.path.basename(path)[: -len(".json")].split(".")
            if len(parts) == 3 and parts[2] not in journal.get((parts[0], parts[1]), []):
                v.append(f"{os.path.relpath(path, self.spool)}: a receipt of {parts[2]}, which the journal does not hold")
        for key, steps in journal.items():
            if key not in records:
                v.append(f"journal lines for a payment without a record: {key}")
            if len(steps) != len(set(steps)):
                v.append(f"{key}: a state journaled twice: {steps}")
        check = self.run("qrpay-spool", ["check"])
        if check.returncode != 0:
            v.append(f"qrpay-spool check exited {check.returncode}: {check.stdout[-800:]} {check.stderr[-800:]}")
        days = sorted({r["created"][:10] for r in records.values()})
        seen = collections.defaultdict(lambda: [0, 0])
        outdir = os.path.join(self.work, "reports")
        os.makedirs(outdir, exist_ok=True)
        for day in days:
            r = self.run("qrpay-reconcile", ["--date", day, "--format", "json", "--out", outdir])
            if r.returncode != 0:
                v.append(f"qrpay-reconcile --day {day} exited {r.returncode}: {r.stderr[-400:]}")
                continue
            report = json.loads(r.stdout)
            for state, currencies in report["states"].items():
                for cur, t in currencies.items():
                    seen[(state, cur)][0] += t["count"]
                    seen[(state, cur)][1] += t["total"]
        for key in set(model) | set(seen):
            if tuple(model.get(key, [0, 0])) != tuple(seen.get(key, [0, 0])):
                v.append(f"reconcile {key}: {seen.get(key, [0, 0])} (count, total), the model says {model.get(key, [0, 0])}")
        return quarantined, records

    def report(self, steps, quarantined, records):
        states = collections.Counter(r["state"] for r in records.values())
        print(f"stress: seed {self.args.seed}, {self.args.seconds:.0f}s, {steps} steps, {len(self.created)} payments created "
              f"({len(self.attempted) - len(self.created)} refused or failed at the shop), {self.kills} kill -9, "
              f"{quarantined} quarantined")
        print("stress: final states: " + ", ".join(f"{s} {n}" for s, n in sorted(states.items())))
        print("stress: hand edits: " + (", ".join(f"{k} {n}" for k, n in sorted(self.tampers.items())) or "none (no record old enough)"))
        by = collections.defaultdict(dict)
        for (prog, rc), n in sorted(self.exits.items(), key=lambda x: str(x)):
            by[prog][rc] = n
        for prog, rcs in sorted(by.items()):
            print(f"stress:   {prog}: " + ", ".join(f"{rc}×{n}" for rc, n in sorted(rcs.items(), key=lambda x: str(x[0]))))
        if self.violations:
            print(f"stress: {len(self.violations)} invariant violation(s):")
            for x in self.violations[:200]:
                print("  " + x)
        else:
            print("stress: every invariant holds")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="directory of the built programs")
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("STRESS_SECONDS", "300")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("STRESS_SEED", "1")))
    ap.add_argument("--work", help="work directory (default: a new temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (spool, log) afterwards")
    ap.add_argument("--no-root-faults", action="store_true", help="no tmpfs or bind mounts even as root")
    args = ap.parse_args()
    s = Stress(args)
    try:
        try:
            s.setup()
        except (subprocess.CalledProcessError, OSError) as e:
            print(f"stress: set-up failed: {e}", file=sys.stderr)
            return 2
        print(f"stress: seed {args.seed}, {args.seconds:.0f}s, work {s.work}", flush=True)
        steps = s.schedule()
        s.clear_faults()
        s.drain()
        quarantined, records = s.check()
        s.report(steps, quarantined, records)
        if args.keep:
            print(f"stress: kept {s.work} (stress.log holds every command and its status)")
        return 1 if s.violations else 0
    finally:
        s.teardown()


if __name__ == "__main__":
    sys.exit(main())
