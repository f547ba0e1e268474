// qrpay-bench - benchmarks and phone-like test photos (not an operator's program).
//
// SYNOPSIS
//      qrpay-bench photo --in PNG --out JPG [--seed N] [--rotation D] [--perspective F] [--blur PX]
//                  [--noise SD] [--gradient F] [--quality Q] [--code-fraction F] [--width W] [--height H]
//      qrpay-bench encode --text TEXT --out PNG [--correction L|M|Q|H] [--module-size N]
//      qrpay-bench decode [--count N] [--dir DIR] [--zbarimg PATH] [--keep DIR] [--per-category N]
//                  [--categories LIST] [--categories-only]
//      qrpay-bench fixtures --out DIR [--per-category N] [--seed N]
//      qrpay-bench pipeline [--count N] [--shops N] [--users N] [--reference-count N] [--rounds N]
//                  [--scale N] [--watch-drops N] [--decode-count N] [--zbarimg PATH] [--bin DIR]
//                  [--reconcile PATH] [--work DIR] [--quick]
//      qrpay-bench payout [--payments N] [--shops N] [--bin DIR] [--work DIR] [--quick]
//
// DESCRIPTION
//      photo turns a QR code PNG into a photo-like JPEG (perspective, rotation, blur, noise,
//      gradient light; 12 MP by default); `make demo` uses it on the payment QR.
//      decode makes N photo-like 12 MP images with varied shots (plus every .png/.jpg/.jpeg in
//      DIR, whose expected text is unknown: any symbol counts as read) and prints a table: decode
//      rate, median and p95 milliseconds per image for QR-Pay's decoder and for zbarimg (one
//      subprocess per image, wall time), and this process's peak RSS. Then the category table:
//      --per-category photos of every PhotoCategory (many codes, high versions, cylinders, tilt,
//      shadows, glare, screens, low light, blur, JPEG quality, EXIF orientation, damage), codes
//      read per category by QR-Pay (as shipped, and with zbar alone), zxing-cpp and zbarimg.
//      fixtures writes the decode regression fixtures: small photos per category and manifest.json.
//      pipeline (what `make bench` runs) builds spools with the in-process API (CA, certificates,
//      documents signed for real, directories made as `qrpay-spool init` makes them) and prints
//      one table with the targets: qrpay-register --once and qrpay-approve --once throughput over
//      N payments from the shops (subprocesses, wall time and CPU per payment); an in-process
//      reference loop doing only the irreducible work (ECDSA verify, QR PNG, the durable files) and
//      the pipeline/reference ratio, in --rounds rounds on fresh spools (medians and spread); --watch latency from a drop to its QR PNG
//      (inotify), p50/p99; a spool with --scale payments already registered (written in the store's
//      layout, about 1-2 min per million on 2 cores): registration throughput, qrpay-spool status and
//      qrpay-reconcile time and RSS; the decode rows. --quick makes every figure small (a
//      functional check, not a measurement). The machine (nproc, CPU, disk, load) heads the table.
//      payout builds a spool of N finished payments of S shops (signed for real, in the store's
//      layout) with payout accounts, and times the daily batch with the real programs:
//      qrpay-payout --once (one pain.001 file, a transfer per shop), an idle pass, the bank's
//      pain.002 and camt.053 read back (every transfer accepted and booked), and
//      qrpay-reconcile --payouts over the day; wall time, CPU and peak RSS in one table.
//
// INPUTS
//      PNG files (photo); DIR of images (decode).
//
// OUTPUTS
//      photo: the JPEG at --out (never overwritten). decode: the table on stdout.
//
// Exit codes: 0 done; 64 usage; 65 bad data; 66 no such input (file, spool, payment); 70 internal
//             error; 73 cannot create; 74 I/O error; 75 try again later (a lock held, a full disk,
//             a missing or stale CRL); 77 permission denied or wrong password; 78 configuration
//             (no CA, no or mismatched credentials)

import ArgumentParser
import Foundation
import QRPayCommand

@main
struct QRPayBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qrpay-bench",
        abstract: "Benchmarks and phone-like test photos for QR-Pay.",
        version: QRPayVersion.text,
        subcommands: [Photo.self, DecodeBench.self, Fixtures.self, Encode.self, PipelineBench.self, PayoutBench.self])
}
