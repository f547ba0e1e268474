// The user's batch stage: photos in, verified reviews or signed approvals out.
//
// Input: ROOT/users/<user>/inbox/new/  photos (*.jpg, *.jpeg, *.png), each optionally with a sidecar
//        NAME.approve (for photo NAME.jpg; NAME.jpg.approve is accepted too) holding
//        {"total": N, "currency": "KRW"}: what the user agreed to pay.
//  - photo + matching sidecar → a signed approval into ROOT/pg/approvals/ (and the review);
//  - photo alone → a review record ROOT/users/<user>/reviews/<NAME>.json, no signature;
//  - mismatch or failure → the photo (and its sidecar) quarantined with the reason.
// A sidecar that arrives before its photo waits for it (it is not claimed); one left waiting for
// more than `orphanAge` is quarantined.

import Foundation

public final class ScanStage: SpoolStage, @unchecked Sendable {
    public let name: String
    public let queues: [Queue]
    let user: String
    let password: String
    let client: UserClient
    let spoolRoot: String
    let clock: @Sendable () -> Date
    public var orphanAge: TimeInterval = 86400
    static let photoExtensions = [".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG"]

    public init(spoolRoot: String, user: String, password: String, clock: @escaping @Sendable () -> Date = { Date() }) throws {
        try Identifier.validate(user, what: "user")
        self.spoolRoot = spoolRoot
        self.user = user
        self.password = password
        self.clock = clock
        // One lock per user: two users' scan stages may run side by side.
        name = "scan-\(user)"
        client = try UserClient(spoolRoot: spoolRoot)
        queues = [SpoolLayout.userInbox(spoolRoot, user: user)]
        // Unlock once at start: a wrong password stops the stage (exit 77) before it touches a photo.
        _ = try Credentials.load(spoolRoot: spoolRoot, role: .user, id: user, password: password)
    }

    static func isPhoto(_ name: String) -> Bool { photoExtensions.contains { name.hasSuffix($0) } }

    static func stem(_ name: String) -> String {
        guard let dot = name.lastIndex(of: ".") else { return name }
        return String(name[..<dot])
    }

    /// Sidecars wait for their photo: the runner does not claim one while no photo is there.
    public func shouldClaim(_ name: String, in queue: Queue) -> Bool {
        guard name.hasSuffix(".approve") else { return true }
        let base = String(name.dropLast(".approve".count))
        let candidates = ScanStage.isPhoto(base) ? [base] : ScanStage.photoExtensions.map { base + $0 }
        if candidates.contains(where: { FileIO.exists(queue.newDirectory + "/" + $0) }) { return false }
        // An orphan: quarantine it once it is old.
        var st = stat()
        if lstat(queue.newDirectory + "/" + name, &st) == 0,
           clock().timeIntervalSince1970 - TimeInterval(st.st_mtim.tv_sec) > orphanAge { return true }
        return false
    }

    public func process(_ file: ClaimedFile) throws -> StageOutcome {
        if file.name.hasSuffix(".approve") {
            throw QRPayError("scan.orphan-sidecar", "sidecar \(file.name) waited more than \(Int(orphanAge)) s for its photo")
        }
        guard ScanStage.isPhoto(file.name) else {
            throw QRPayError("scan.not-photo", "\(file.name) is neither a photo (.jpg, .jpeg, .png) nor a .approve sidecar")
        }
        let queue = file.queue
        let sidecarNames = [ScanStage.stem(file.name) + ".approve", file.name + ".approve"]
        var sidecar: ClaimedFile?
        for n in sidecarNames where FileIO.exists(queue.newDirectory + "/" + n) {
            sidecar = try queue.claim(n)
            if sidecar != nil { break }
        }
        do {
            let now = clock()
            let data = try file.read(maxBytes: 64 << 20)
            let review = try client.review(imageData: data, now: now)
            try writeReview(review, photo: file.name, now: now)
            guard let sidecar else {
                return .done("\(file.name): reviewed \(review.info.shop)/\(review.info.payment) \(review.info.currency.format(review.info.total)); no sidecar, not approved")
            }
            let agreed = try JSONObjectReader(try JSONValue.parse(try sidecar.read(maxBytes: 4096), what: "sidecar"), what: "sidecar \(sidecar.name)")
            try agreed.requireOnly(["total", "currency"])
            let total = try agreed.int("total"), currency = try agreed.string("currency", maxLength: 16)
            guard total == review.info.total, currency == review.info.currency.code else {
                throw QRPayError("scan.total-mismatch",
                                 "the user agreed to \(currency) \(total) but the payment is \(review.info.currency.code) \(review.info.total)")
            }
            try client.approve(review, user: user, password: password, now: now)
            try queue.complete(sidecar)
            return .done("\(file.name): approved \(review.info.shop)/\(review.info.payment) \(review.info.currency.format(review.info.total))")
        } catch let error as QRPayError {
            if let sidecar, !error.isTransient {
                _ = try? queue.quarantine(sidecar, stage: name, error: QRPayError(error.code, "sidecar of \(file.name): \(error.message)", exit: error.exit))
            } else if let sidecar {
                // Transient: give the sidecar back so it travels with its photo on the retry.
                _ = rename(sidecar.path, queue.newDirectory + "/" + sidecar.name)
            }
            throw error
        }
    }

    func writeReview(_ review: PaymentReview, photo: String, now: Date) throws {
        let dir = SpoolLayout.userDirectory(spoolRoot, user: user) + "/reviews"
        try FileIO.makeDirectory(dir, mode: 0o700)
        guard case .object(var o) = review.json else { return }
        o["photo"] = .string(photo)
        o["reviewedAt"] = .string(Timestamp.format(now))
        try FileIO.writeDurably(JSONValue.object(o).serialized(pretty: true),
                                to: "\(dir)/\(ScanStage.stem(photo)).json", mode: 0o600, replace: true)
    }
}
