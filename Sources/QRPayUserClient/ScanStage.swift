// The user's batch stage: photos in, verified reviews or signed approvals out.
//
// Input: ROOT/users/<user>/inbox/new/  photos (*.jpg, *.jpeg, *.png), each optionally with a sidecar
//        NAME.approve (for photo NAME.jpg; NAME.jpg.approve is accepted too) holding what the user
//        agreed to pay: {"shop": "1001", "total": N, "currency": "KRW"} and, optionally,
//        "payment": "P…". shop, total and currency are required.
//  - photo + matching sidecar → a signed approval into ROOT/pg/approvals/ (and the review);
//  - photo alone → a review record ROOT/users/<user>/reviews/<NAME>.json, no signature;
//  - a photo with several payment codes is approved only when exactly one of them matches the
//    sidecar; its review lists them all;
//  - mismatch or failure → the photo (and its sidecar) quarantined with the reason.
// A sidecar that arrives before its photo waits for it (it is not claimed); one left waiting for
// more than `orphanAge` is quarantined.

import Foundation
import QRPaySupport
import QRPaySpool
import QRPayPKI

package struct ScanStage: SpoolStage {
    package let name: String
    package let queues: [Queue]
    let user: String
    let password: Password
    let client: UserClient
    let layout: SpoolLayout
    /// How long a sidecar may wait for its photo before it is quarantined.
    package let orphanAge: TimeInterval
    static let photoExtensions = [".jpg", ".jpeg", ".png", ".JPG", ".JPEG", ".PNG"]

    package init(layout: SpoolLayout, user: String, password: Password, orphanAge: TimeInterval = 86400) throws {
        try Identifier.validate(user, what: "user")
        self.layout = layout
        self.user = user
        self.password = password
        self.orphanAge = orphanAge
        // One lock per user: two users' scan stages may run side by side.
        name = "scan-\(user)"
        client = try UserClient(spoolRoot: layout.root)
        queues = [layout.scanInbox(user: user)]
        // Unlock once at start: a wrong password stops the stage (exit 77) before it touches a photo.
        _ = try Credentials.load(layout: layout, role: .user, id: user, password: password)
    }

    /// The user's stage keeps its lock where the user may write (users/ID/run).
    package func lockDirectory(_ layout: SpoolLayout) -> String { layout.userRunDirectory(user: user) }

    static func isPhoto(_ name: String) -> Bool { photoExtensions.contains { name.hasSuffix($0) } }

    static func stem(_ name: String) -> String {
        guard let dot = name.lastIndex(of: ".") else { return name }
        return String(name[..<dot])
    }

    /// Sidecars wait for their photo: the runner does not claim one while no photo is there; an
    /// orphan is claimed (and quarantined) once it is older than `orphanAge`.
    package func shouldClaim(_ name: String, in queue: Queue, context: StageContext) -> Bool {
        guard name.hasSuffix(".approve") else { return true }
        let base = String(name.dropLast(".approve".count))
        let candidates = ScanStage.isPhoto(base) ? [base] : ScanStage.photoExtensions.map { base + $0 }
        if candidates.contains(where: { FileIO.exists(queue.newDirectory + "/" + $0) }) { return false }
        var st = stat()
        if lstat(queue.newDirectory + "/" + name, &st) == 0,
           context.now().timeIntervalSince1970 - TimeInterval(st.st_mtim.tv_sec) > orphanAge { return true }
        return false
    }

    /// A photo travels with its sidecar (NAME.approve, or PHOTO.approve).
    package func companions(of name: String, in queue: Queue) -> [String] {
        guard ScanStage.isPhoto(name) else { return [] }
        let candidates = [ScanStage.stem(name) + ".approve", name + ".approve"]
        return candidates.filter { FileIO.exists(queue.newDirectory + "/" + $0) }.prefix(1).map { $0 }
    }

    package func process(_ file: ClaimedFile, commit: GroupCommit) throws -> StageOutcome {
        if file.name.hasSuffix(".approve") {
            throw QRPayError(.scanOrphanSidecar, "sidecar \(file.name) waited more than \(Int(orphanAge)) s for its photo")
        }
        guard ScanStage.isPhoto(file.name) else {
            throw QRPayError(.scanNotPhoto, "\(file.name) is neither a photo (.jpg, .jpeg, .png) nor a .approve sidecar")
        }
        let sidecar = file.companions.first
        let now = commit.context.now()
        let data = try file.read(maxBytes: 64 << 20)
        let photo = try client.reviewAll(imageData: data, now: now)
        guard let sidecar else {
            let review = try photo.choose()
            // The review is the user's view of what the photo shows.
            try writeReview(review, photo: file.name, now: now, context: commit.context)
            return .done("\(file.name): reviewed \(review.info.shop)/\(review.info.payment) \(review.info.currency.format(review.info.total)); no sidecar, not approved")
        }
        let agreed = try JSONObjectReader(try JSONValue.parse(try sidecar.read(maxBytes: 4096), what: "sidecar"), what: "sidecar \(sidecar.name)")
        try agreed.requireOnly(["shop", "total", "currency", "payment"])
        let intent = Intent(shop: try agreed.string("shop", maxLength: 64), payment: try agreed.optionalString("payment", maxLength: 64),
                            total: try agreed.int("total"), currency: try agreed.string("currency", maxLength: 16))
        let matching = photo.reviews.filter { intent.differences(from: $0).isEmpty }
        guard matching.count == 1, let review = matching.first else {
            if let only = photo.reviews.first, photo.reviews.count == 1 {
                try writeReview(only, photo: file.name, now: now, context: commit.context)
                throw QRPayError(.scanTotalMismatch, "the user agreed to something else: \(intent.differences(from: only).joined(separator: "; ")); nothing was signed")
            }
            if photo.reviews.isEmpty { _ = try photo.choose() }
            throw QRPayError(.approvalAmbiguous, matching.isEmpty
                ? "none of the \(photo.reviews.count) payment codes in the photo is what the sidecar says (\(photo.listing)); nothing was signed"
                : "\(matching.count) payment codes in the photo match the sidecar (\(photo.listing)): add \"payment\" to it; nothing was signed")
        }
        try writeReview(review, photo: file.name, now: now, context: commit.context)
        try client.approve(review, user: user, password: password, now: now, commit: commit)
        return .done("\(file.name): approved \(review.info.shop)/\(review.info.payment) \(review.info.currency.format(review.info.total))")
    }

    func writeReview(_ review: PaymentReview, photo: String, now: Date, context: StageContext) throws {
        let dir = layout.reviewsDirectory(user: user)
        try context.ensureDirectory(dir)
        guard case .object(var o) = review.json else { return }
        o["photo"] = .string(photo)
        o["reviewedAt"] = .string(Timestamp.format(now))
        let commit = GroupCommit(context: context)
        try commit.write(JSONValue.object(o).serialized(pretty: true), to: "\(dir)/\(ScanStage.stem(photo)).json",
                         mode: 0o600, ifExists: .replace)
        try commit.flush()
    }
}
