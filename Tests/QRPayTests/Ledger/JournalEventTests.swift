// Journal entries are typed (`JournalEvent`): a payment's state change, a payout account set, a
// payment paid out, a credit transfer's status. The lines keep the documented format (`kind`,
// `from`, `to`), so journals written before read the same, and anything else is `journal.malformed`.

import Foundation
@testable import QRPaySupport
@testable import QRPayLedger
import Testing

@Suite struct JournalEventTests {
    static let at = Date(timeIntervalSince1970: 1_796_000_000)

    static let events: [(JournalEvent, kind: String?, from: String?, to: String)] = [
        (.transition(from: nil, to: .request), nil, nil, "request"),
        (.transition(from: .accept, to: .finish), nil, "accept", "finish"),
        (.account(previous: nil), "account", nil, "set"),
        (.account(previous: "h1"), "account", "h1", "set"),
        (.payout(id: "PO20261207KRW0123456789"), "payout", nil, "PO20261207KRW0123456789"),
        (.payoutState(from: nil, to: .sent), "payout-state", nil, "sent"),
        (.payoutState(from: .accepted, to: .rejected), "payout-state", "accepted", "rejected"),
    ]

    @Test(arguments: 0..<events.count)
    func everyEventKeepsTheLineFormatAndReadsBack(index: Int) throws {
        let (event, kind, from, to) = Self.events[index]
        let entry = JournalEntry(seq: 7, at: Self.at, event: event, shop: "1001", payment: "P-1", evidence: "e", prev: Journal.genesis)
        let line = try JSONValue.parse(entry.line.dropLast())
        #expect(line["kind"]?.stringValue == kind && (kind != nil || line["kind"] == nil))
        #expect(line["from"]?.stringValue == from && (from != nil || line["from"] == .null))
        #expect(line["to"]?.stringValue == to)
        let read = try JournalEntry(line: entry.line.dropLast())
        #expect(read == entry && read.event == event && read.isIntact)
        #expect((read.transition != nil) == (kind == nil), "only a payment's state change is a transition")
    }

    /// A line as the journal has always written it reads into its typed event.
    @Test func linesWrittenBeforeReadTheSame() throws {
        let lines: [(String, JournalEvent)] = [
            (#"{"seq":1,"at":"2026-12-01T10:00:00Z","shop":"1001","payment":"P1","from":null,"to":"request","evidence":"x","prev":"p","hash":"h"}"#,
             .transition(from: nil, to: .request)),
            (#"{"seq":2,"at":"2026-12-01T10:00:00Z","kind":"account","shop":"pg-debtor","payment":"KRW","from":null,"to":"set","evidence":"x","prev":"p","hash":"h"}"#,
             .account(previous: nil)),
            (#"{"seq":3,"at":"2026-12-01T10:00:00Z","kind":"payout","shop":"1001","payment":"P1","from":null,"to":"PO1","evidence":"x","prev":"p","hash":"h"}"#,
             .payout(id: "PO1")),
            (#"{"seq":4,"at":"2026-12-01T10:00:00Z","kind":"payout-state","shop":"1001","payment":"PO1-0001","from":"sent","to":"booked","evidence":"x","prev":"p","hash":"h"}"#,
             .payoutState(from: .sent, to: .booked)),
        ]
        for (line, event) in lines {
            #expect(try JournalEntry(line: Data(line.utf8)).event == event, "\(line)")
        }
    }

    @Test(arguments: [
        #""kind":"refund","from":null,"to":"set""#,          // an unknown kind
        #""from":null,"to":"paid""#,                          // a payment state that does not exist
        #""from":"nowhere","to":"finish""#,
        #""kind":"account","from":null,"to":"cleared""#,     // an account is only ever set
        #""kind":"payout","from":"sent","to":"PO1""#,        // a payout has no from
        #""kind":"payout-state","from":null,"to":"paid""#,   // not a transfer status
        #""kind":"payout-state","from":"lost","to":"booked""#,
    ])
    func anythingElseIsMalformed(members: String) throws {
        let line = #"{"seq":1,"at":"2026-12-01T10:00:00Z","shop":"1001","payment":"P1","evidence":"x","prev":"p","hash":"h","#
            + members + "}"
        let error = #expect(throws: QRPayError.self) { try JournalEntry(line: Data(line.utf8)) }
        #expect(error?.code == .journalMalformed, "\(line)")
    }

    /// Transfer statuses and payout states are closed sets: a record naming another is malformed.
    @Test func payoutStatusesAreClosed() {
        #expect(PayoutStatus.allCases.map(\.rawValue) == ["sent", "accepted", "rejected", "booked"])
        #expect(PayoutStatus(rawValue: "paid") == nil && Payout.State(rawValue: "done") == nil)
        #expect(Payout.State(rawValue: "prepared") == .prepared && Payout.State(rawValue: "sent") == .sent)
    }
}
