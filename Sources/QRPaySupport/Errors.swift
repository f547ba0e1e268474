// Errors shared by every part of QR-Pay, and their closed catalogue.
//
// Every failure a program can report is a `QRPayError`: an `ErrorCode` from the catalogue below and
// a sentence a person understands. The code is stable (scripts and reason files match on its
// `rawValue`, for example `payment.replay`) and carries, in one place, what the rest of the system
// does with the failure:
//
//   - `status`: the sysexits(3) status a program exits with;
//   - `fault`:  whose fault it is. `.input`: the file or document itself is bad, so a stage
//               quarantines it (with the message as its reason). `.system`: the system failed
//               (a disk, a directory's permissions, a missing CRL, a busy lock), so a stage defers
//               the file and retries it, however long that lasts; never a quarantine;
//   - `summary`: the message template, what the failure means (the catalogue's documentation).
//
// After swift-certificates' closed set of error codes: no code is ever made from a string at the
// throw site, so `ErrorCode.all` is every code a program can report, and a test checks each
// program's documented exit statuses against the codes it can raise.

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// sysexits(3) exit statuses used by every QR-Pay program.
package enum SysExit: Int32, Sendable, CaseIterable {
    case ok = 0
    /// Generic "not everything succeeded" (for example: some images had no QR symbol).
    case failure = 1
    case usage = 64
    case dataError = 65
    case noInput = 66
    case software = 70
    case osError = 71
    case cantCreate = 73
    case ioError = 74
    case tempFail = 75
    case noPermission = 77
    case config = 78
}

/// Whose fault a failure is: it decides between quarantine and deferral (see the top of this file).
package enum Fault: String, Sendable {
    /// The input is bad: quarantined with the reason, never retried by itself.
    case input
    /// The system failed (disk, permissions, configuration, a busy resource): deferred and retried.
    case system
}

/// One entry of the error catalogue.
package struct ErrorCode: Hashable, Sendable, CustomStringConvertible {
    /// `area.what`, never renamed once released.
    package let rawValue: String
    /// The exit status of a program that stops on this error.
    package let status: SysExit
    package let fault: Fault
    /// What the error means: the message template of the catalogue.
    package let summary: String

    init(_ rawValue: String, _ status: SysExit, _ fault: Fault, _ summary: String) {
        self.rawValue = rawValue
        self.status = status
        self.fault = fault
        self.summary = summary
    }

    package var description: String { rawValue }
    /// The area, the part before the first dot (`payment`, `pki`, `io`...).
    package var area: String { String(rawValue.prefix(while: { $0 != "." })) }

    package static func == (lhs: ErrorCode, rhs: ErrorCode) -> Bool { lhs.rawValue == rhs.rawValue }
    package func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
    /// Scripts and tests compare codes with their stable text.
    package static func == (lhs: ErrorCode, rhs: String) -> Bool { lhs.rawValue == rhs }
    package static func != (lhs: ErrorCode, rhs: String) -> Bool { lhs.rawValue != rhs }

    /// The catalogue entry with this text, if any.
    package static func named(_ rawValue: String) -> ErrorCode? { byName[rawValue] }
    private static let byName: [String: ErrorCode] = Dictionary(all.map { ($0.rawValue, $0) }, uniquingKeysWith: { a, _ in a })
}

package struct QRPayError: Error, CustomStringConvertible, Equatable, Sendable {
    package let code: ErrorCode
    /// One sentence a person understands.
    package let message: String

    package init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The exit status a program reports for this error (the code's).
    package var exit: SysExit { code.status }
    /// A fault of the system (deferred and retried), not of the input.
    package var isTransient: Bool { code.fault == .system }

    package var description: String { "\(message) [\(code.rawValue)]" }

    /// The same code with more context in front of the message.
    package func prefixed(_ context: String) -> QRPayError { QRPayError(code, context + message) }
}

extension QRPayError {
    package static func usage(_ message: String) -> QRPayError { QRPayError(.usage, message) }

    /// A system call on `path` failed with `errno`: the code says what kind of failure (missing,
    /// permission, full, read-only, busy, other), the message what was tried
    /// ("cannot create /x/y: No space left on device").
    package static func io(_ what: String, path: String, errno code: Int32) -> QRPayError {
        QRPayError(ErrorCode.io(errno: code), "cannot \(what) \(path): \(String(cString: strerror(code)))")
    }
}

// MARK: - The catalogue

extension ErrorCode {
    /// The code for a failed system call, by errno.
    package static func io(errno code: Int32) -> ErrorCode {
        switch code {
        case ENOENT, ENOTDIR: return .ioNotFound
        case EACCES, EPERM: return .ioPermission
        case ENOSPC, EDQUOT: return .ioNoSpace
        case EROFS: return .ioReadOnly
        case EEXIST: return .ioExists
        case ELOOP: return .ioSymlink
        case EAGAIN, EINTR, EMFILE, ENFILE, EBUSY, ETXTBSY, ENOMEM: return .ioBusy
        default: return .ioFailed
        }
    }

    // usage and internal
    package static let usage = ErrorCode("usage", .usage, .system, "the command line is wrong: {what}; see --help")
    package static let internalError = ErrorCode("internal", .software, .system, "an internal error of QR-Pay: {what} (a bug; the input is kept and retried)")

    // io: system calls (one code per kind of errno, the call and path in the message)
    package static let ioNotFound = ErrorCode("io.not-found", .noInput, .system, "cannot {do} {path}: it does not exist")
    package static let ioPermission = ErrorCode("io.permission", .noPermission, .system, "cannot {do} {path}: permission denied")
    package static let ioNoSpace = ErrorCode("io.no-space", .tempFail, .system, "cannot {do} {path}: no space left (or quota exceeded)")
    package static let ioReadOnly = ErrorCode("io.read-only", .cantCreate, .system, "cannot {do} {path}: read-only file system")
    package static let ioBusy = ErrorCode("io.busy", .tempFail, .system, "cannot {do} {path}: a resource is busy or exhausted for now")
    package static let ioFailed = ErrorCode("io.failed", .ioError, .system, "cannot {do} {path}: an I/O error")
    package static let ioExists = ErrorCode("io.exists", .cantCreate, .system, "{path} already exists; QR-Pay never overwrites it")
    package static let ioNotDirectory = ErrorCode("io.not-directory", .cantCreate, .system, "{path} exists and is not a directory")
    package static let ioSymlink = ErrorCode("io.symlink", .dataError, .input, "{path} is a symbolic link; QR-Pay never follows links")
    package static let ioNotRegular = ErrorCode("io.not-regular", .dataError, .input, "{path} is not a regular file")
    package static let ioTooLarge = ErrorCode("io.too-large", .dataError, .input, "{path} is over the size limit")
    package static let ioLineTooLong = ErrorCode("io.line-too-long", .dataError, .input, "{path} has a line over the limit")

    // spool: queues and stage runners
    package static let spoolMissing = ErrorCode("spool.missing", .noInput, .system, "there is no spool at {path}: give --spool DIR or set $QRPAY_SPOOL")
    package static let spoolBusy = ErrorCode("spool.busy", .tempFail, .system, "another instance holds the lock {path}")
    package static let spoolBadName = ErrorCode("spool.bad-name", .dataError, .input, "{name} is not a valid spool file name")
    package static let spoolExists = ErrorCode("spool.exists", .cantCreate, .system, "{path} already exists; the spool never replaces a file")
    package static let spoolInFlight = ErrorCode("spool.in-flight", .tempFail, .system, "{key} is being changed by another batch; retried later")
    package static let spoolNoSuchFile = ErrorCode("spool.no-such-file", .noInput, .system, "no queue file {name} where the operation needs it")
    package static let spoolNotRegular = ErrorCode("spool.not-regular", .dataError, .input, "{name} is a {kind}, not a regular file; it was not opened")
    package static let spoolTooLarge = ErrorCode("spool.too-large", .dataError, .input, "{name} is {size} bytes, over the limit")
    package static let spoolNotDeletable = ErrorCode("spool.not-deletable", .dataError, .input, "{name} is waiting, claimed or deferred: only quarantined or held files may be deleted")
    package static let spoolUnknownFormat = ErrorCode("spool.unknown-format", .dataError, .input, "{path} is none of the spool's file formats")
    package static let spoolNoOutbox = ErrorCode("spool.no-outbox", .noInput, .system, "there is no outbox queue at {path}")
    package static let spoolNoCA = ErrorCode("spool.no-ca", .noInput, .system, "{path} has no CA repository (ca/): run qrpay-ca init first")

    // json: strict parsing of untrusted documents
    package static let jsonTooLarge = ErrorCode("json.too-large", .dataError, .input, "{what} is over the size limit")
    package static let jsonMalformed = ErrorCode("json.malformed", .dataError, .input, "{what} is not valid JSON (or has duplicate keys)")
    package static let jsonTooDeep = ErrorCode("json.too-deep", .dataError, .input, "JSON nests more than 32 levels")
    package static let jsonNotObject = ErrorCode("json.not-object", .dataError, .input, "{what} is not a JSON object")
    package static let jsonUnknownField = ErrorCode("json.unknown-field", .dataError, .input, "{what} has a field QR-Pay does not know")
    package static let jsonMissingField = ErrorCode("json.missing-field", .dataError, .input, "{what} lacks the field {field}")
    package static let jsonType = ErrorCode("json.type", .dataError, .input, "{what}: {field} has the wrong type")
    package static let jsonRange = ErrorCode("json.range", .dataError, .input, "{what}: {field} is out of range")
    package static let jsonTooLong = ErrorCode("json.too-long", .dataError, .input, "{what}: {field} is too long")

    // id and time
    package static let idUnsafe = ErrorCode("id.unsafe", .dataError, .input, "{what} {id} is not a valid id: 1-64 of A-Z a-z 0-9 . _ -")

    // pki: keys, certificates, CRLs
    package static let pkiPassword = ErrorCode("pki.password", .noPermission, .system, "the password does not unlock the key {which}")
    package static let pkiPasswordFile = ErrorCode("password.file", .noPermission, .system, "cannot read the password file {path}")
    package static let pkiPasswordMissingFile = ErrorCode("password.missing", .noInput, .system, "the password file {path} does not exist")
    package static let pkiPasswordEmpty = ErrorCode("password.empty", .noPermission, .system, "the password file {path} is empty")
    package static let pkiPasswordNUL = ErrorCode("password.nul", .dataError, .input, "the password holds a NUL byte")
    package static let pkiPasswordTerminal = ErrorCode("password.terminal", .usage, .system, "there is no terminal to ask for the password")
    package static let pkiKeyScheme = ErrorCode("pki.key-scheme", .dataError, .input, "the private key is protected by a scheme QR-Pay refuses as weak")
    package static let pkiPEM = ErrorCode("pki.pem", .dataError, .input, "{what} is not the PEM QR-Pay expects")
    package static let pkiCSRSignature = ErrorCode("pki.csr-signature", .dataError, .input, "the certificate request's signature does not verify with its own key")
    package static let pkiKeyMismatch = ErrorCode("pki.key-mismatch", .config, .system, "the private key does not belong to the certificate {certificate}")
    package static let pkiNoCredentials = ErrorCode("pki.no-credentials", .config, .system, "there is no key or certificate for {owner} in {path}")
    package static let pkiUnknownCertificate = ErrorCode("pki.unknown-certificate", .dataError, .input, "the signer's certificate {fingerprint} was not issued by this CA")
    package static let pkiUntrusted = ErrorCode("pki.untrusted", .dataError, .input, "the certificate does not chain to this spool's CA")
    package static let pkiKeyUsage = ErrorCode("pki.key-usage", .dataError, .input, "the certificate may not sign documents (key usage, extended key usage or CA)")
    package static let pkiNotYetValid = ErrorCode("pki.not-yet-valid", .dataError, .input, "the certificate is not valid yet")
    package static let pkiExpired = ErrorCode("pki.expired", .dataError, .input, "the certificate has expired")
    package static let pkiWrongRole = ErrorCode("pki.wrong-role", .dataError, .input, "the certificate belongs to another role")
    package static let pkiWrongID = ErrorCode("pki.wrong-id", .dataError, .input, "the certificate belongs to another id")
    package static let pkiRevoked = ErrorCode("pki.revoked", .dataError, .input, "the certificate has been revoked")
    package static let pkiCRLMissing = ErrorCode("pki.crl-missing", .tempFail, .system, "there is no readable CRL: run qrpay-ca crl")
    package static let pkiCRLStale = ErrorCode("pki.crl-stale", .tempFail, .system, "the CRL's nextUpdate has passed: run qrpay-ca crl")
    package static let pkiCRLInvalid = ErrorCode("pki.crl-invalid", .tempFail, .system, "the CRL is not a CRL of this CA that QR-Pay can use")
    package static let pkiPG = ErrorCode("pki.pg", .config, .system, "the PG certificate is unusable: {why}")
    package static let pkiCrypto = ErrorCode("pki.crypto", .software, .system, "OpenSSL failed to {do}")

    // ca: the certificate authority's repository
    package static let caMissing = ErrorCode("ca.missing", .config, .system, "there is no CA in {path}: create one with qrpay-ca init")
    package static let caNotCA = ErrorCode("ca.not-ca", .config, .system, "{path} is not a CA certificate")
    package static let caExists = ErrorCode("ca.exists", .cantCreate, .system, "a CA already exists in {path}")
    package static let caIndex = ErrorCode("ca.index", .config, .system, "the CA index {path} is damaged: {why}")
    package static let caRepository = ErrorCode("ca.repository", .config, .system, "a CA repository file holds another certificate than its name says")
    package static let caNeverIssued = ErrorCode("ca.never-issued", .noInput, .system, "the CA has never issued a certificate for {role} {id}")
    package static let caAlreadyIssued = ErrorCode("ca.already-issued", .cantCreate, .system, "{role} {id} already has a valid certificate: give --renew to replace (and revoke) it")
    package static let caName = ErrorCode("ca.name", .dataError, .input, "a display name must be 1 to 64 bytes of printable text")
    package static let caNameTaken = ErrorCode("ca.name-taken", .dataError, .input, "another shop already has this display name: payers could not tell them apart")

    // jws: signed documents
    package static let jwsMalformed = ErrorCode("jws.malformed", .dataError, .input, "the signed document is malformed: {why}")
    package static let jwsAlg = ErrorCode("jws.alg", .dataError, .input, "the signed document uses another algorithm than ES256")
    package static let jwsType = ErrorCode("jws.type", .dataError, .input, "the signed document is of another kind (typ) than expected")
    package static let jwsBadSignature = ErrorCode("jws.bad-signature", .dataError, .input, "the signature does not verify with the signer's certificate")

    // payment: payment information and its registration
    package static let paymentVersion = ErrorCode("payment.version", .dataError, .input, "payment information of an unknown version")
    package static let paymentAmount = ErrorCode("payment.amount", .dataError, .input, "an amount is not an integer in the currency's minor unit, or out of range")
    package static let paymentCurrency = ErrorCode("payment.currency", .dataError, .input, "{currency} is not a currency QR-Pay knows (ISO 4217)")
    package static let paymentItems = ErrorCode("payment.items", .dataError, .input, "the items are missing or too many")
    package static let paymentItemName = ErrorCode("payment.item-name", .dataError, .input, "an item name is empty, too long or holds control characters")
    package static let paymentItemAmount = ErrorCode("payment.item-amount", .dataError, .input, "an item's amount is not quantity × unit")
    package static let paymentQuantity = ErrorCode("payment.quantity", .dataError, .input, "an item's quantity is out of range")
    package static let paymentTotalMismatch = ErrorCode("payment.total-mismatch", .dataError, .input, "the total is not the sum of the items")
    package static let paymentTime = ErrorCode("payment.time", .dataError, .input, "a time is not RFC 3339 UTC")
    package static let paymentExpiry = ErrorCode("payment.expiry", .dataError, .input, "the expiry is not after creation, or too far")
    package static let paymentShop = ErrorCode("payment.shop", .dataError, .input, "the payment is for another shop")
    package static let paymentFuture = ErrorCode("payment.future", .dataError, .input, "the payment is created in the future")
    package static let paymentExpired = ErrorCode("payment.expired", .dataError, .input, "the payment has expired")
    package static let paymentReplay = ErrorCode("payment.replay", .dataError, .input, "the payment number is already registered with other content (replay)")
    package static let paymentState = ErrorCode("payment.state", .dataError, .input, "the payment is in a state that cannot make this change")
    package static let paymentUnknown = ErrorCode("payment.unknown", .noInput, .system, "no such payment in the spool")
    package static let paymentNotListed = ErrorCode("payment.not-listed", .dataError, .input, "the payment is not on the PG's payment-information list")
    package static let paymentNotOpen = ErrorCode("payment.not-open", .dataError, .input, "the payment is not open for approval")

    // approval, cancel, notice: the other signed documents
    package static let approvalVersion = ErrorCode("approval.version", .dataError, .input, "an approval of an unknown version")
    package static let approvalAmount = ErrorCode("approval.amount", .dataError, .input, "the approval's total is out of range")
    package static let approvalDocument = ErrorCode("approval.document", .dataError, .input, "the approval's document hash is malformed")
    package static let approvalTime = ErrorCode("approval.time", .dataError, .input, "the approval's time is malformed")
    package static let approvalAudience = ErrorCode("approval.audience", .dataError, .input, "the approval is addressed to another PG")
    package static let approvalUnknownPayment = ErrorCode("approval.unknown-payment", .dataError, .input, "the approved payment is not registered")
    package static let approvalPaymentPending = ErrorCode("approval.payment-pending", .tempFail, .system, "the payment is not registered yet while the PG's inbox still holds documents: retried")
    package static let approvalReplay = ErrorCode("approval.replay", .dataError, .input, "the payment was already approved or moved on (one approval per payment)")
    package static let approvalExpired = ErrorCode("approval.expired", .dataError, .input, "the approved payment has expired")
    package static let approvalTotalMismatch = ErrorCode("approval.total-mismatch", .dataError, .input, "the approval's total or currency differ from the payment's")
    package static let approvalIntent = ErrorCode("approval.intent", .dataError, .input, "the payment is not the one the user expects: {what differs}; nothing was signed")
    package static let approvalAmbiguous = ErrorCode("approval.ambiguous", .dataError, .input, "the photo holds more than one payment code: pick one with --code N; nothing was signed")
    package static let approvalRepeated = ErrorCode("approval.repeated", .dataError, .input, "this user already approved this payment; nothing was signed")
    package static let approvalOwnCertificate = ErrorCode("approval.own-certificate", .noPermission, .system, "the user's own certificate is revoked, expired or not from this CA; nothing was signed")
    package static let userDeclined = ErrorCode("user.declined", .failure, .system, "the user declined; nothing was signed")
    package static let approvalDocumentMismatch = ErrorCode("approval.document-mismatch", .dataError, .input, "the approval was made for another version of the payment document")
    package static let cancelVersion = ErrorCode("cancel.version", .dataError, .input, "a cancel of an unknown version")
    package static let cancelReason = ErrorCode("cancel.reason", .dataError, .input, "the cancel's reason is too long or holds control characters")
    package static let cancelTime = ErrorCode("cancel.time", .dataError, .input, "the cancel's time is malformed")
    package static let cancelUnknownPayment = ErrorCode("cancel.unknown-payment", .dataError, .input, "the cancelled payment is not registered")
    package static let cancelPaymentPending = ErrorCode("cancel.payment-pending", .tempFail, .system, "the payment is not registered yet while the PG's inbox still holds documents: retried")
    package static let cancelNotOpen = ErrorCode("cancel.not-open", .dataError, .input, "the payment is already cancelled or expired")
    package static let cancelFinished = ErrorCode("cancel.finished", .dataError, .input, "the payment is finished; it can no longer be cancelled")
    package static let cancelTooLate = ErrorCode("cancel.too-late", .dataError, .input, "the hold of the accepted payment had ended when the cancel arrived")
    package static let noticeParty = ErrorCode("notice.party", .dataError, .input, "a notice, refusal or receipt is about another party")
    package static let shopPaymentUsed = ErrorCode("shop.payment-used", .dataError, .input, "the shop already used this payment number")
    package static let shopUnknownPayment = ErrorCode("shop.unknown-payment", .dataError, .input, "the shop's journal never created this payment")
    package static let shopNoQR = ErrorCode("shop.no-qr", .noInput, .system, "the PG has not (yet) made this payment's QR code")
    package static let noticeState = ErrorCode("notice.state", .dataError, .input, "a notice names an unknown state")
    package static let noticeTime = ErrorCode("notice.time", .dataError, .input, "a notice's time is malformed")

    // record, list, journal, checkpoint: the PG's own files
    package static let recordMalformed = ErrorCode("record.malformed", .dataError, .input, "a payment record does not parse")
    package static let recordSignature = ErrorCode("record.signature", .dataError, .input, "a record's signature is malformed")
    package static let recordMismatch = ErrorCode("record.mismatch", .dataError, .input, "a record disagrees with its signed document")
    package static let listMalformed = ErrorCode("list.malformed", .dataError, .input, "a payment-information list entry is malformed")
    package static let listUnsigned = ErrorCode("list.unsigned", .dataError, .input, "a list entry is not signed by the PG the CA certified")
    package static let listMismatch = ErrorCode("list.mismatch", .dataError, .input, "a list entry is for another payment than the QR code")
    package static let journalMalformed = ErrorCode("journal.malformed", .dataError, .input, "a journal entry does not parse")
    package static let ledgerMismatch = ErrorCode("ledger.mismatch", .tempFail, .system, "a record disagrees with the journal (the ledger of record); nothing is derived from it until it is restored")
    package static let ledgerUnfinished = ErrorCode("ledger.unfinished", .tempFail, .system, "a change of this payment the journal announced is not finished yet; no other change of it is made until the stage that began it reruns")
    package static let journalCorrupt = ErrorCode("journal.corrupt", .ioError, .system, "the journal's last line cannot be read: {path}")
    package static let journalBroken = ErrorCode("journal.broken", .dataError, .input, "the journal does not verify; nothing signed")
    package static let checkpointVersion = ErrorCode("checkpoint.version", .dataError, .input, "a checkpoint of an unknown version")
    package static let checkpointMalformed = ErrorCode("checkpoint.malformed", .dataError, .input, "a checkpoint is malformed")
    package static let verifyMismatch = ErrorCode("verify.mismatch", .dataError, .input, "a signed document is not bound to the record it is in")

    // qr and image: codes and photos
    package static let qrEmpty = ErrorCode("qr.empty", .dataError, .input, "nothing to encode")
    package static let qrTooLong = ErrorCode("qr.too-long", .dataError, .input, "the text is too long for a QR code")
    package static let qrEncode = ErrorCode("qr.encode", .software, .system, "libqrencode failed")
    package static let qrModuleSize = ErrorCode("qr.module-size", .usage, .system, "the module size is out of range")
    package static let qrMargin = ErrorCode("qr.margin", .usage, .system, "the quiet zone is out of range")
    package static let qrNone = ErrorCode("qr.none", .dataError, .input, "no QR code found in the image")
    package static let qrNotQRPay = ErrorCode("qr.not-qrpay", .dataError, .input, "the QR code is not a QR-Pay payment code")
    package static let qrSignature = ErrorCode("qr.signature", .dataError, .input, "the QR code's signature is malformed")
    package static let qrMismatch = ErrorCode("qr.mismatch", .dataError, .input, "the QR code and the listed payment disagree")
    package static let imageEmpty = ErrorCode("image.empty", .dataError, .input, "the image file is empty")
    package static let imageUnsupported = ErrorCode("image.unsupported", .dataError, .input, "not a PNG or JPEG image")
    package static let imageTruncated = ErrorCode("image.truncated", .dataError, .input, "the image is truncated")
    package static let imageCorrupt = ErrorCode("image.corrupt", .dataError, .input, "the image is corrupt")
    package static let imageTooLarge = ErrorCode("image.too-large", .dataError, .input, "the image has more pixels or bytes than allowed")
    package static let imageMemory = ErrorCode("image.memory", .tempFail, .system, "not enough memory to decode the image")
    package static let imageWrite = ErrorCode("image.write", .software, .system, "the image could not be encoded")

    // scan: the user's batch stage
    package static let scanNotPhoto = ErrorCode("scan.not-photo", .dataError, .input, "neither a photo nor an .approve sidecar")
    package static let scanOrphanSidecar = ErrorCode("scan.orphan-sidecar", .dataError, .input, "an .approve sidecar waited too long for its photo")
    package static let scanTotalMismatch = ErrorCode("scan.total-mismatch", .dataError, .input, "the sidecar's total or currency differ from the payment's")

    // setup: accounts of a deployment
    package static let setupAccount = ErrorCode("setup.account", .config, .system, "a Unix user or group setup needs does not exist or cannot be made")

    // account, payout, bank: paying shops out (ISO 20022 files out, bank files back)
    package static let accountIBAN = ErrorCode("account.iban", .dataError, .input, "{iban} is not a valid IBAN: {why} (ISO 13616: country, check digits mod 97, the country's length)")
    package static let accountBIC = ErrorCode("account.bic", .dataError, .input, "{bic} is not a BIC (ISO 9362: 8 or 11 letters and digits)")
    package static let accountInvalid = ErrorCode("account.invalid", .dataError, .input, "a payout account's {field} is missing or malformed")
    package static let accountMalformed = ErrorCode("account.malformed", .dataError, .input, "a stored payout account {path} does not parse")
    package static let accountMissing = ErrorCode("account.missing", .noInput, .system, "there is no payout account for {shop}")
    package static let payoutNoDebtor = ErrorCode("payout.no-debtor", .config, .system, "the PG has no debtor account in {currency}: qrpay-spool accounts set --pg")
    package static let payoutMalformed = ErrorCode("payout.malformed", .dataError, .input, "a payout record {path} does not parse")
    package static let payoutMismatch = ErrorCode("payout.mismatch", .dataError, .input, "a payout file differs from the one its record describes")
    package static let payoutXML = ErrorCode("payout.xml", .software, .system, "libxml2 could not write the payout file")
    package static let bankMalformed = ErrorCode("bank.malformed", .dataError, .input, "the bank file is not well-formed XML, or has a DOCTYPE or entities")
    package static let bankMessage = ErrorCode("bank.message", .dataError, .input, "the bank file is not a pain.002.001.12, camt.053.001.08 or camt.054.001.08 message")
    package static let bankInvalid = ErrorCode("bank.invalid", .dataError, .input, "the bank file breaks its ISO 20022 schema: {what}")

    // reconcile and bench
    package static let reconcileOverflow = ErrorCode("reconcile.overflow", .dataError, .input, "a total overflows 64-bit minor units")
    package static let reconcileUnknownShop = ErrorCode("reconcile.unknown-shop", .noInput, .system, "the spool knows no shop {shop}")
    package static let reconcileShopJournal = ErrorCode("reconcile.shop-journal", .dataError, .input, "the shop journal is malformed")
    package static let benchFailed = ErrorCode("bench.failed", .software, .system, "the benchmark could not run: {why}")

    /// Every code, in catalogue order.
    package static let all: [ErrorCode] = [
        usage, internalError,
        ioNotFound, ioPermission, ioNoSpace, ioReadOnly, ioBusy, ioFailed, ioExists, ioNotDirectory, ioSymlink,
        ioNotRegular, ioTooLarge, ioLineTooLong,
        spoolMissing, spoolBusy, spoolBadName, spoolExists, spoolInFlight, spoolNoSuchFile, spoolNotRegular,
        spoolTooLarge, spoolNoCA,
        jsonTooLarge, jsonMalformed, jsonTooDeep, jsonNotObject, jsonUnknownField, jsonMissingField, jsonType,
        jsonRange, jsonTooLong,
        idUnsafe,
        pkiPassword, pkiPasswordFile, pkiPasswordMissingFile, pkiPasswordEmpty, pkiPasswordNUL, pkiPasswordTerminal, pkiKeyScheme, pkiPEM, pkiCSRSignature, pkiKeyMismatch,
        pkiNoCredentials, pkiUnknownCertificate, pkiUntrusted, pkiKeyUsage, pkiNotYetValid, pkiExpired,
        pkiWrongRole, pkiWrongID, pkiRevoked, pkiCRLMissing, pkiCRLStale, pkiCRLInvalid, pkiPG, pkiCrypto,
        caMissing, caNotCA, caExists, caIndex, caRepository, caNeverIssued, caName, caNameTaken,
        jwsMalformed, jwsAlg, jwsType, jwsBadSignature,
        paymentVersion, paymentAmount, paymentCurrency, paymentItems, paymentItemName, paymentItemAmount,
        paymentQuantity, paymentTotalMismatch, paymentTime, paymentExpiry, paymentShop, paymentFuture,
        paymentExpired, paymentReplay, paymentState, paymentUnknown, paymentNotListed, paymentNotOpen,
        approvalVersion, approvalAmount, approvalDocument, approvalTime, approvalAudience, approvalUnknownPayment,
        approvalReplay, approvalExpired, approvalTotalMismatch, approvalDocumentMismatch, approvalIntent, approvalAmbiguous, approvalRepeated, approvalOwnCertificate, userDeclined, approvalPaymentPending, cancelPaymentPending,
        cancelVersion, cancelReason, cancelTime, cancelUnknownPayment, cancelNotOpen, cancelFinished, cancelTooLate,
        noticeParty, shopPaymentUsed, shopUnknownPayment, shopNoQR, noticeState, noticeTime,
        recordMalformed, recordSignature, recordMismatch, listMalformed, listUnsigned, listMismatch, journalMalformed, ledgerMismatch, ledgerUnfinished,
        journalCorrupt, journalBroken, checkpointVersion, checkpointMalformed, verifyMismatch,
        qrEmpty, qrTooLong, qrEncode, qrModuleSize, qrMargin, qrNone, qrNotQRPay, qrSignature, qrMismatch,
        imageEmpty, imageUnsupported, imageTruncated, imageCorrupt, imageTooLarge, imageMemory, imageWrite,
        scanNotPhoto, scanOrphanSidecar, scanTotalMismatch,
        accountIBAN, accountBIC, accountInvalid, accountMalformed, accountMissing,
        payoutNoDebtor, payoutMalformed, payoutMismatch, payoutXML, bankMalformed, bankMessage, bankInvalid,
        setupAccount, reconcileOverflow, reconcileShopJournal, reconcileUnknownShop,
        spoolNotDeletable, spoolUnknownFormat, spoolNoOutbox, caAlreadyIssued, benchFailed,
    ]
}
