#!/usr/bin/env bash
# make demo: one payment end to end on the default spool ./Spool, each step with the files it wrote.
#
# CA → certificates for the PG, shop 1001 and user u42 → the shop signs a payment → qrpay-register
# verifies it and writes its QR PNG → the PNG becomes a phone-like photo (rotated, tilted, noisy
# JPEG) → the user scans it, checks it and approves it with a password → qrpay-approve accepts →
# qrpay-settle finishes it (hold 0 for the demo). Running it again reuses the CA and certificates
# and makes another payment.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-$PWD/.build/release}
export QRPAY_SPOOL=${QRPAY_SPOOL:-$PWD/Spool}
SECRETS=$QRPAY_SPOOL/.demo-secrets
mkdir -p "$QRPAY_SPOOL"
install -d -m 0700 "$SECRETS"
for who in ca pg shop user; do
  [ -s "$SECRETS/$who.pass" ] || (umask 077; head -c 18 /dev/urandom | base64 > "$SECRETS/$who.pass")
done

mark=$(mktemp); trap 'rm -f "$mark"' EXIT
step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; touch "$mark"; sleep 0.01; "${@:2}"; }
wrote() {
  local files; files=$(find "$QRPAY_SPOOL" -newer "$mark" -type f ! -name '*.lock' ! -name '.lock' ! -path '*/.demo-secrets/*' | sed "s|^$PWD/||" | sort)
  [ -n "$files" ] && printf '   wrote: %s\n' $files || true
}

if [ ! -f "$QRPAY_SPOOL/ca/ca.pem" ]; then
  step "The CA is created (paper, phase A)" "$BIN/qrpay-ca" init --name "QR-Pay Demo Root CA" --password-file "$SECRETS/ca.pass"; wrote
  step "The PG gets its certificate" "$BIN/qrpay-ca" issue --role pg --id PG1 --name "QR-Pay Gateway" --ca-password-file "$SECRETS/ca.pass" --password-file "$SECRETS/pg.pass"; wrote
  step "Shop 1001 gets its certificate" "$BIN/qrpay-ca" issue --role shop --id 1001 --name "Coffee House Seoul" --ca-password-file "$SECRETS/ca.pass" --password-file "$SECRETS/shop.pass"; wrote
  step "User u42 gets a certificate; the key is password-protected" "$BIN/qrpay-ca" issue --role user --id u42 --name "Kim Min-jun" --ca-password-file "$SECRETS/ca.pass" --password-file "$SECRETS/user.pass"; wrote
  step "The PG makes its spool directories ahead of use (queues, list, the shop's record buckets)" "$BIN/qrpay-spool" init; wrote
else
  printf '\nReusing the CA and certificates in %s\n' "$QRPAY_SPOOL"
fi

printf '\n\033[1m== The shop signs the payment information and drops it into the PG inbox (phase B)\033[0m\n'
echo "\$ qrpay-shop create --shop 1001 --currency KRW --item Americano:2:4500 --item Bagel:1:3200"
touch "$mark"; sleep 0.01
payment=$("$BIN/qrpay-shop" create --shop 1001 --password-file "$SECRETS/shop.pass" --currency KRW \
          --item "Americano:2:4500" --item "Bagel:1:3200")
echo "   payment number: $payment"; wrote

step "The PG verifies the shop's signature, registers 'request', writes the QR PNG" \
  "$BIN/qrpay-register" --password-file "$SECRETS/pg.pass" --once; wrote
qr="$QRPAY_SPOOL/shops/1001/qr/$payment.png"

photo_dir="$QRPAY_SPOOL/users/u42/photos"; install -d -m 0700 "$photo_dir"
photo="$photo_dir/$payment.jpg"
step "The user's phone photographs the shop's display (rotated, tilted, noisy 12 MP JPEG)" \
  "$BIN/qrpay-bench" photo --in "$qr" --out "$photo" --rotation 23 --perspective 0.08 --noise 5 --seed $RANDOM; wrote

step "The user's client decodes the photo, fetches and verifies the payment (phase C)" \
  "$BIN/qrpay-user" scan --user u42 "$photo"

step "The user approves with the password-protected key (phase D)" \
  "$BIN/qrpay-user" approve --user u42 --password-file "$SECRETS/user.pass" --expect-shop 1001 --expect-total 12200 "$photo"; wrote

step "The PG verifies the approval: request → accept, notice to the shop, receipt to the user" \
  "$BIN/qrpay-approve" --password-file "$SECRETS/pg.pass" --once; wrote

step "Settlement: accept → finish once the hold (0 for the demo) has passed (phase E)" \
  "$BIN/qrpay-settle" --password-file "$SECRETS/pg.pass" --hold 0 --once; wrote

step "The shop reads the PG's notices (verified, into its journal): request, accept, finish" \
  "$BIN/qrpay-shop" notices --shop 1001

step "The user reads the PG's receipts" "$BIN/qrpay-user" receipts --user u42

step "The shop's day at closing time" "$BIN/qrpay-shop" status --shop 1001

step "The PG's own (debtor) account for payouts in KRW (journaled)" \
  "$BIN/qrpay-spool" accounts set --pg --name "QR-Pay Gateway" --account 9990001 --bank-code 004 --currency KRW
step "The shop's payout account (no IBAN in Korea: account number and bank code)" \
  "$BIN/qrpay-spool" accounts set --shop 1001 --name "Coffee House" --account 1002-345-678901 --bank-code 088 --currency KRW
step "Payout: finished payments → one pain.001.001.09 file per currency for the bank, PG-signed manifest beside it" \
  "$BIN/qrpay-payout" --password-file "$SECRETS/pg.pass" --once; wrote

step "The operator's view of the payment" "$BIN/qrpay-spool" show 1001 "$payment"
step "The operator's view of the spool" "$BIN/qrpay-spool" status
step "The operator's audit: records, markers, journal chain, modes" "$BIN/qrpay-spool" check
state=$("$BIN/qrpay-spool" show --json 1001 "$payment" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
[ "$state" = finish ] || { echo "demo: payment ended in state $state, not finish" >&2; exit 1; }
printf '\nDemo complete: payment %s of shop 1001 is finished.\n' "$payment"
