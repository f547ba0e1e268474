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
public enum SysExit: Int32, Sendable, CaseIterable {
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
public enum Fault: String, Sendable {
    /// The input is bad: quarantined with the reason, never retried by itself.
    case input
    /// The system failed (disk, permissions, configuration, a busy resource): deferred and retried.
    case system
}

/// One entry of the error catalogue.
public struct ErrorCode: Hashable, Sendable, CustomStringConvertible {
    /// `area.what`, never renamed once released.
    public let rawValue: String
    /// The exit status of a program that stops on this error.
    public let status: SysExit
    public let fault: Fault
    /// What the error means: the message template of the catalogue.
    public let summary: String

    init(_ rawValue: String, _ status: SysExit, _ fault: Fault, _ summary: String) {
        self.rawValue = rawValue
        self.status = status
        self.fault = fault
        self.summary = summary
    }

    public var description: String { rawValue }
    /// The area, the part before the first dot (`payment`, `pki`, `io`...).
    public var area: String { String(rawValue.prefix(while: { $0 != "." })) }

    public static func == (lhs: ErrorCode, rhs: ErrorCode) -> Bool { lhs.rawValue == rhs.rawValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(rawValue) }
    /// Scripts and tests compare codes with their stable text.
    public static func == (lhs: ErrorCode, rhs: String) -> Bool { lhs.rawValue == rhs }
    public static func != (lhs: ErrorCode, rhs: String) -> Bool { lhs.rawValue != rhs }

    /// The catalogue entry with this text, if any.
    public static func named(_ rawValue: String) -> ErrorCode? { byName[rawValue] }
    private static let byName: [String: ErrorCode] = Dictionary(all.map { ($0.rawValue, $0) }, uniquingKeysWith: { a, _ in a })
}

public struct QRPayError: Error, CustomStringConvertible, Equatable, Sendable {
    public let code: ErrorCode
    /// One sentence a person understands.
    public let message: String

    public init(_ code: ErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The exit status a program reports for this error (the code's).
    public var exit: SysExit { code.status }
    /// A fault of the system (deferred and retried), not of the input.
    public var isTransient: Bool { code.fault == .system }

    public var description: String { "\(message) [\(code.rawValue)]" }

    /// The same code with more context in front of the message.
    public func prefixed(_ context: String) -> QRPayError { QRPayError(code, context + message) }
}

extension QRPayError {
    public static func usage(_ message: String) -> QRPayError { QRPayError(.usage, message) }

    /// A system call on `path` failed with `errno`: the code says what kind of failure (missing,
    /// permission, full, read-only, busy, other), the message what was tried
    /// ("cannot create /x/y: No space left on device").
    public static func io(_ what: String, path: String, errno code: Int32) -> QRPayError {
        QRPayError(ErrorCode.io(errno: code), "cannot \(what) \(path): \(String(cString: strerror(code)))")
    }
}

// MARK: - The catalogue

extension ErrorCode {
    /// The code for a failed system call, by errno.
    public static func io(errno code: Int32) -> ErrorCode {
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
    public static let usage = ErrorCode("usage", .usage, .system, "the command line is wrong: {what}; see --help")
    public static let internalError = ErrorCode("internal", .software, .system, "an internal error of QR-Pay: {what} (a bug; the input is kept and retried)")

    // io: system calls (one code per kind of errno, the call and path in the message)
    public static let ioNotFound = ErrorCode("io.not-found", .noInput, .system, "cannot {do} {path}: it does not exist")
    public static let ioPermission = ErrorCode("io.permission", .noPermission, .system, "cannot {do} {path}: permission denied")
    public static let ioNoSpace = ErrorCode("io.no-space", .tempFail, .system, "cannot {do} {path}: no space left (or quota exceeded)")
    public static let ioReadOnly = ErrorCode("io.read-only", .cantCreate, .system, "cannot {do} {path}: read-only file system")
    public static let ioBusy = ErrorCode("io.busy", .tempFail, .system, "cannot {do} {path}: a resource is busy or exhausted for now")
    public static let ioFailed = ErrorCode("io.failed", .ioError, .system, "cannot {do} {path}: an I/O error")
    public static let ioExists = ErrorCode("io.exists", .cantCreate, .system, "{path} already exists; QR-Pay never overwrites it")
    public static let ioNotDirectory = ErrorCode("io.not-directory", .cantCreate, .system, "{path} exists and is not a directory")
    public static let ioSymlink = ErrorCode("io.symlink", .dataError, .input, "{path} is a symbolic link; QR-Pay never follows links")
    public static let ioNotRegular = ErrorCode("io.not-regular", .dataError, .input, "{path} is not a regular file")
    public static let ioTooLarge = ErrorCode("io.too-large", .dataError, .input, "{path} is over the size limit")
    public static let ioLineTooLong = ErrorCode("io.line-too-long", .dataError, .input, "{path} has a line over the limit")

    // spool: queues and stage runners
    public static let spoolMissing = ErrorCode("spool.missing", .noInput, .system, "there is no spool at {path}: give --spool DIR or set $QRPAY_SPOOL")
    public static let spoolBusy = ErrorCode("spool.busy", .tempFail, .system, "another instance holds the lock {path}")
    public static let spoolBadName = ErrorCode("spool.bad-name", .dataError, .input, "{name} is not a valid spool file name")
    public static let spoolExists = ErrorCode("spool.exists", .cantCreate, .system, "{path} already exists; the spool never replaces a file")
    public static let spoolInFlight = ErrorCode("spool.in-flight", .tempFail, .system, "{key} is being changed by another batch; retried later")
    public static let spoolNoSuchFile = ErrorCode("spool.no-such-file", .noInput, .system, "no queue file {name} where the operation needs it")
    public static let spoolNotRegular = ErrorCode("spool.not-regular", .dataError, .input, "{name} is a {kind}, not a regular file; it was not opened")
    public static let spoolTooLarge = ErrorCode("spool.too-large", .dataError, .input, "{name} is {size} bytes, over the limit")
    public static let spoolNotDeletable = ErrorCode("spool.not-deletable", .dataError, .input, "{name} is waiting, claimed or deferred: only quarantined or held files may be deleted")
    public static let spoolUnknownFormat = ErrorCode("spool.unknown-format", .dataError, .input, "{path} is none of the spool's file formats")
    public static let spoolNoOutbox = ErrorCode("spool.no-outbox", .noInput, .system, "there is no outbox queue at {path}")
    public static let spoolNoCA = ErrorCode("spool.no-ca", .noInput, .system, "{path} has no CA repository (ca/): run qrpay-ca init first")

    // json: strict parsing of untrusted documents
    public static let jsonTooLarge = ErrorCode("json.too-large", .dataError, .input, "{what} is over the size limit")
    public static let jsonMalformed = ErrorCode("json.malformed", .dataError, .input, "{what} is not valid JSON (or has duplicate keys)")
    public static let jsonTooDeep = ErrorCode("json.too-deep", .dataError, .input, "JSON nests more than 32 levels")
    public static let jsonNotObject = ErrorCode("json.not-object", .dataError, .input, "{what} is not a JSON object")
    public static let jsonUnknownField = ErrorCode("json.unknown-field", .dataError, .input, "{what} has a field QR-Pay does not know")
    public static let jsonMissingField = ErrorCode("json.missing-field", .dataError, .input, "{what} lacks the field {field}")
    public static let jsonType = ErrorCode("json.type", .dataError, .input, "{what}: {field} has the wrong type")
    public static let jsonRange = ErrorCode("json.range", .dataError, .input, "{what}: {field} is out of range")
    public static let jsonTooLong = ErrorCode("json.too-long", .dataError, .input, "{what}: {field} is too long")

    // id and time
    public static let idUnsafe = ErrorCode("id.unsafe", .dataError, .input, "{what} {id} is not a valid id: 1-64 of A-Z a-z 0-9 . _ -")

    // pki: keys, certificates, CRLs
    public static let pkiPassword = ErrorCode("pki.password", .noPermission, .system, "the password does not unlock the key {which}")
    public static let pkiPasswordFile = ErrorCode("password.file", .noPermission, .system, "cannot read the password file {path}")
    public static let pkiPasswordMissingFile = ErrorCode("password.missing", .noInput, .system, "the password file {path} does not exist")
    public static let pkiPasswordEmpty = ErrorCode("password.empty", .noPermission, .system, "the password file {path} is empty")
    public static let pkiPasswordNUL = ErrorCode("password.nul", .dataError, .input, "the password holds a NUL byte")
    public static let pkiPasswordTerminal = ErrorCode("password.terminal", .usage, .system, "there is no terminal to ask for the password")
    public static let pkiKeyScheme = ErrorCode("pki.key-scheme", .dataError, .input, "the private key is protected by a scheme QR-Pay refuses as weak")
    public static let pkiPEM = ErrorCode("pki.pem", .dataError, .input, "{what} is not the PEM QR-Pay expects")
    public static let pkiCSRSignature = ErrorCode("pki.csr-signature", .dataError, .input, "the certificate request's signature does not verify with its own key")
    public static let pkiKeyMismatch = ErrorCode("pki.key-mismatch", .config, .system, "the private key does not belong to the certificate {certificate}")
    public static let pkiNoCredentials = ErrorCode("pki.no-credentials", .config, .system, "there is no key or certificate for {owner} in {path}")
    public static let pkiUnknownCertificate = ErrorCode("pki.unknown-certificate", .dataError, .input, "the signer's certificate {fingerprint} was not issued by this CA")
    public static let pkiUntrusted = ErrorCode("pki.untrusted", .dataError, .input, "the certificate does not chain to this spool's CA")
    public static let pkiKeyUsage = ErrorCode("pki.key-usage", .dataError, .input, "the certificate may not sign documents (key usage, extended key usage or CA)")
    public static let pkiNotYetValid = ErrorCode("pki.not-yet-valid", .dataError, .input, "the certificate is not valid yet")
    public static let pkiExpired = ErrorCode("pki.expired", .dataError, .input, "the certificate has expired")
    public static let pkiWrongRole = ErrorCode("pki.wrong-role", .dataError, .input, "the certificate belongs to another role")
    public static let pkiWrongID = ErrorCode("pki.wrong-id", .dataError, .input, "the certificate belongs to another id")
    public static let pkiRevoked = ErrorCode("pki.revoked", .dataError, .input, "the certificate has been revoked")
    public static let pkiCRLMissing = ErrorCode("pki.crl-missing", .tempFail, .system, "there is no readable CRL: run qrpay-ca crl")
    public static let pkiCRLStale = ErrorCode("pki.crl-stale", .tempFail, .system, "the CRL's nextUpdate has passed: run qrpay-ca crl")
    public static let pkiCRLInvalid = ErrorCode("pki.crl-invalid", .tempFail, .system, "the CRL is not a CRL of this CA that QR-Pay can use")
    public static let pkiPG = ErrorCode("pki.pg", .config, .system, "the PG certificate is unusable: {why}")
    public static let pkiCrypto = ErrorCode("pki.crypto", .software, .system, "OpenSSL failed to {do}")

    // ca: the certificate authority's repository
    public static let caMissing = ErrorCode("ca.missing", .config, .system, "there is no CA in {path}: create one with qrpay-ca init")
    public static let caNotCA = ErrorCode("ca.not-ca", .config, .system, "{path} is not a CA certificate")
    public static let caExists = ErrorCode("ca.exists", .cantCreate, .system, "a CA already exists in {path}")
    public static let caIndex = ErrorCode("ca.index", .config, .system, "the CA index {path} is damaged: {why}")
    public static let caRepository = ErrorCode("ca.repository", .config, .system, "a CA repository file holds another certificate than its name says")
    public static let caNeverIssued = ErrorCode("ca.never-issued", .noInput, .system, "the CA has never issued a certificate for {role} {id}")
    public static let caAlreadyIssued = ErrorCode("ca.already-issued", .cantCreate, .system, "{role} {id} already has a valid certificate: give --renew to replace (and revoke) it")
    public static let caName = ErrorCode("ca.name", .dataError, .input, "a display name must be 1 to 64 bytes of printable text")
    public static let caNameTaken = ErrorCode("ca.name-taken", .dataError, .input, "another shop already has this display name: payers could not tell them apart")

    // jws: signed documents
    public static let jwsMalformed = ErrorCode("jws.malformed", .dataError, .input, "the signed document is malformed: {why}")
    public static let jwsAlg = ErrorCode("jws.alg", .dataError, .input, "the signed document uses another algorithm than ES256")
    public static let jwsType = ErrorCode("jws.type", .dataError, .input, "the signed document is of another kind (typ) than expected")
    public static let jwsBadSignature = ErrorCode("jws.bad-signature", .dataError, .input, "the signature does not verify with the signer's certificate")

    // payment: payment information and its registration
    public static let paymentVersion = ErrorCode("payment.version", .dataError, .input, "payment information of an unknown version")
    public static let paymentAmount = ErrorCode("payment.amount", .dataError, .input, "an amount is not an integer in the currency's minor unit, or out of range")
    public static let paymentCurrency = ErrorCode("payment.currency", .dataError, .input, "{currency} is not a currency QR-Pay knows (ISO 4217)")
    public static let paymentItems = ErrorCode("payment.items", .dataError, .input, "the items are missing or too many")
    public static let paymentItemName = ErrorCode("payment.item-name", .dataError, .input, "an item name is empty, too long or holds control characters")
    public static let paymentItemAmount = ErrorCode("payment.item-amount", .dataError, .input, "an item's amount is not quantity × unit")
    public static let paymentQuantity = ErrorCode("payment.quantity", .dataError, .input, "an item's quantity is out of range")
    public static let paymentTotalMismatch = ErrorCode("payment.total-mismatch", .dataError, .input, "the total is not the sum of the items")
    public static let paymentTime = ErrorCode("payment.time", .dataError, .input, "a time is not RFC 3339 UTC")
    public static let paymentExpiry = ErrorCode("payment.expiry", .dataError, .input, "the expiry is not after creation, or too far")
    public static let paymentShop = ErrorCode("payment.shop", .dataError, .input, "the payment is for another shop")
    public static let paymentFuture = ErrorCode("payment.future", .dataError, .input, "the payment is created in the future")
    public static let paymentExpired = ErrorCode("payment.expired", .dataError, .input, "the payment has expired")
    public static let paymentReplay = ErrorCode("payment.replay", .dataError, .input, "the payment number is already registered with other content (replay)")
    public static let paymentState = ErrorCode("payment.state", .dataError, .input, "the payment is in a state that cannot make this change")
    public static let paymentUnknown = ErrorCode("payment.unknown", .noInput, .system, "no such payment in the spool")
    public static let paymentNotListed = ErrorCode("payment.not-listed", .dataError, .input, "the payment is not on the PG's payment-information list")
    public static let paymentNotOpen = ErrorCode("payment.not-open", .dataError, .input, "the payment is not open for approval")

    // approval, cancel, notice: the other signed documents
    public static let approvalVersion = ErrorCode("approval.version", .dataError, .input, "an approval of an unknown version")
    public static let approvalAmount = ErrorCode("approval.amount", .dataError, .input, "the approval's total is out of range")
    public static let approvalDocument = ErrorCode("approval.document", .dataError, .input, "the approval's document hash is malformed")
    public static let approvalTime = ErrorCode("approval.time", .dataError, .input, "the approval's time is malformed")
    public static let approvalAudience = ErrorCode("approval.audience", .dataError, .input, "the approval is addressed to another PG")
    public static let approvalUnknownPayment = ErrorCode("approval.unknown-payment", .dataError, .input, "the approved payment is not registered")
    public static let approvalPaymentPending = ErrorCode("approval.payment-pending", .tempFail, .system, "the payment is not registered yet while the PG's inbox still holds documents: retried")
    public static let approvalReplay = ErrorCode("approval.replay", .dataError, .input, "the payment was already approved or moved on (one approval per payment)")
    public static let approvalExpired = ErrorCode("approval.expired", .dataError, .input, "the approved payment has expired")
    public static let approvalTotalMismatch = ErrorCode("approval.total-mismatch", .dataError, .input, "the approval's total or currency differ from the payment's")
    public static let approvalIntent = ErrorCode("approval.intent", .dataError, .input, "the payment is not the one the user expects: {what differs}; nothing was signed")
    public static let approvalAmbiguous = ErrorCode("approval.ambiguous", .dataError, .input, "the photo holds more than one payment code: pick one with --code N; nothing was signed")
    public static let approvalRepeated = ErrorCode("approval.repeated", .dataError, .input, "this user already approved this payment; nothing was signed")
    public static let approvalOwnCertificate = ErrorCode("approval.own-certificate", .noPermission, .system, "the user's own certificate is revoked, expired or not from this CA; nothing was signed")
    public static let userDeclined = ErrorCode("user.declined", .failure, .system, "the user declined; nothing was signed")
    public static let approvalDocumentMismatch = ErrorCode("approval.document-mismatch", .dataError, .input, "the approval was made for another version of the payment document")
    public static let cancelVersion = ErrorCode("cancel.version", .dataError, .input, "a cancel of an unknown version")
    public static let cancelReason = ErrorCode("cancel.reason", .dataError, .input, "the cancel's reason is too long or holds control characters")
    public static let cancelTime = ErrorCode("cancel.time", .dataError, .input, "the cancel's time is malformed")
    public static let cancelUnknownPayment = ErrorCode("cancel.unknown-payment", .dataError, .input, "the cancelled payment is not registered")
    public static let cancelPaymentPending = ErrorCode("cancel.payment-pending", .tempFail, .system, "the payment is not registered yet while the PG's inbox still holds documents: retried")
    public static let cancelNotOpen = ErrorCode("cancel.not-open", .dataError, .input, "the payment is already cancelled or expired")
    public static let cancelFinished = ErrorCode("cancel.finished", .dataError, .input, "the payment is finished; it can no longer be cancelled")
    public static let cancelTooLate = ErrorCode("cancel.too-late", .dataError, .input, "the hold of the accepted payment had ended when the cancel arrived")
    public static let noticeParty = ErrorCode("notice.party", .dataError, .input, "a notice, refusal or receipt is about another party")
    public static let shopPaymentUsed = ErrorCode("shop.payment-used", .dataError, .input, "the shop already used this payment number")
    public static let shopUnknownPayment = ErrorCode("shop.unknown-payment", .dataError, .input, "the shop's journal never created this payment")
    public static let shopNoQR = ErrorCode("shop.no-qr", .noInput, .system, "the PG has not (yet) made this payment's QR code")
    public static let noticeState = ErrorCode("notice.state", .dataError, .input, "a notice names an unknown state")
    public static let noticeTime = ErrorCode("notice.time", .dataError, .input, "a notice's time is malformed")

    // record, list, journal, checkpoint: the PG's own files
    public static let recordMalformed = ErrorCode("record.malformed", .dataError, .input, "a payment record does not parse")
    public static let recordSignature = ErrorCode("record.signature", .dataError, .input, "a record's signature is malformed")
    public static let recordMismatch = ErrorCode("record.mismatch", .dataError, .input, "a record disagrees with its signed document")
    public static let listMalformed = ErrorCode("list.malformed", .dataError, .input, "a payment-information list entry is malformed")
    public static let listUnsigned = ErrorCode("list.unsigned", .dataError, .input, "a list entry is not signed by the PG the CA certified")
    public static let listMismatch = ErrorCode("list.mismatch", .dataError, .input, "a list entry is for another payment than the QR code")
    public static let journalMalformed = ErrorCode("journal.malformed", .dataError, .input, "a journal entry does not parse")
    public static let journalCorrupt = ErrorCode("journal.corrupt", .ioError, .system, "the journal's last line cannot be read: {path}")
    public static let journalBroken = ErrorCode("journal.broken", .dataError, .input, "the journal does not verify; nothing signed")
    public static let checkpointVersion = ErrorCode("checkpoint.version", .dataError, .input, "a checkpoint of an unknown version")
    public static let checkpointMalformed = ErrorCode("checkpoint.malformed", .dataError, .input, "a checkpoint is malformed")
    public static let verifyMismatch = ErrorCode("verify.mismatch", .dataError, .input, "a signed document is not bound to the record it is in")

    // qr and image: codes and photos
    public static let qrEmpty = ErrorCode("qr.empty", .dataError, .input, "nothing to encode")
    public static let qrTooLong = ErrorCode("qr.too-long", .dataError, .input, "the text is too long for a QR code")
    public static let qrEncode = ErrorCode("qr.encode", .software, .system, "libqrencode failed")
    public static let qrModuleSize = ErrorCode("qr.module-size", .usage, .system, "the module size is out of range")
    public static let qrMargin = ErrorCode("qr.margin", .usage, .system, "the quiet zone is out of range")
    public static let qrNone = ErrorCode("qr.none", .dataError, .input, "no QR code found in the image")
    public static let qrNotQRPay = ErrorCode("qr.not-qrpay", .dataError, .input, "the QR code is not a QR-Pay payment code")
    public static let qrSignature = ErrorCode("qr.signature", .dataError, .input, "the QR code's signature is malformed")
    public static let qrMismatch = ErrorCode("qr.mismatch", .dataError, .input, "the QR code and the listed payment disagree")
    public static let imageEmpty = ErrorCode("image.empty", .dataError, .input, "the image file is empty")
    public static let imageUnsupported = ErrorCode("image.unsupported", .dataError, .input, "not a PNG or JPEG image")
    public static let imageTruncated = ErrorCode("image.truncated", .dataError, .input, "the image is truncated")
    public static let imageCorrupt = ErrorCode("image.corrupt", .dataError, .input, "the image is corrupt")
    public static let imageTooLarge = ErrorCode("image.too-large", .dataError, .input, "the image has more pixels or bytes than allowed")
    public static let imageMemory = ErrorCode("image.memory", .tempFail, .system, "not enough memory to decode the image")
    public static let imageWrite = ErrorCode("image.write", .software, .system, "the image could not be encoded")

    // scan: the user's batch stage
    public static let scanNotPhoto = ErrorCode("scan.not-photo", .dataError, .input, "neither a photo nor an .approve sidecar")
    public static let scanOrphanSidecar = ErrorCode("scan.orphan-sidecar", .dataError, .input, "an .approve sidecar waited too long for its photo")
    public static let scanTotalMismatch = ErrorCode("scan.total-mismatch", .dataError, .input, "the sidecar's total or currency differ from the payment's")

    // setup: accounts of a deployment
    public static let setupAccount = ErrorCode("setup.account", .config, .system, "a Unix user or group setup needs does not exist or cannot be made")

    // account, payout, bank: paying shops out (ISO 20022 files out, bank files back)
    public static let accountIBAN = ErrorCode("account.iban", .dataError, .input, "{iban} is not a valid IBAN: {why} (ISO 13616: country, check digits mod 97, the country's length)")
    public static let accountBIC = ErrorCode("account.bic", .dataError, .input, "{bic} is not a BIC (ISO 9362: 8 or 11 letters and digits)")
    public static let accountInvalid = ErrorCode("account.invalid", .dataError, .input, "a payout account's {field} is missing or malformed")
    public static let accountMalformed = ErrorCode("account.malformed", .dataError, .input, "a stored payout account {path} does not parse")
    public static let accountMissing = ErrorCode("account.missing", .noInput, .system, "there is no payout account for {shop}")
    public static let payoutNoDebtor = ErrorCode("payout.no-debtor", .config, .system, "the PG has no debtor account in {currency}: qrpay-spool accounts set --pg")
    public static let payoutMalformed = ErrorCode("payout.malformed", .dataError, .input, "a payout record {path} does not parse")
    public static let payoutMismatch = ErrorCode("payout.mismatch", .dataError, .input, "a payout file differs from the one its record describes")
    public static let payoutXML = ErrorCode("payout.xml", .software, .system, "libxml2 could not write the payout file")
    public static let bankMalformed = ErrorCode("bank.malformed", .dataError, .input, "the bank file is not well-formed XML, or has a DOCTYPE or entities")
    public static let bankMessage = ErrorCode("bank.message", .dataError, .input, "the bank file is not a pain.002.001.12, camt.053.001.08 or camt.054.001.08 message")
    public static let bankInvalid = ErrorCode("bank.invalid", .dataError, .input, "the bank file breaks its ISO 20022 schema: {what}")

    // reconcile and bench
    public static let reconcileOverflow = ErrorCode("reconcile.overflow", .dataError, .input, "a total overflows 64-bit minor units")
    public static let reconcileUnknownShop = ErrorCode("reconcile.unknown-shop", .noInput, .system, "the spool knows no shop {shop}")
    public static let reconcileShopJournal = ErrorCode("reconcile.shop-journal", .dataError, .input, "the shop journal is malformed")
    public static let benchFailed = ErrorCode("bench.failed", .software, .system, "the benchmark could not run: {why}")

    /// Every code, in catalogue order.
    public static let all: [ErrorCode] = [
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
        recordMalformed, recordSignature, recordMismatch, listMalformed, listUnsigned, listMismatch, journalMalformed,
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
