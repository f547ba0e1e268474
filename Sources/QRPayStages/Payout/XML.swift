// XML through libxml2 (the CXML2 module): a writer for payout files and a strict reader for bank files.
//
// Writing: xmlTextWriter into memory, indented, UTF-8; it escapes text and attributes itself.
// Reading: xmlCtxtReadMemory with XML_PARSE_NONET (never the network), without XML_PARSE_NOENT and
// XML_PARSE_DTDLOAD (no entity is substituted, no external DTD or entity loaded); a document with a
// DOCTYPE (where entities would be declared) or an entity reference is refused, as is one over the
// size limit or nested deeper than 64 levels. libxml2's own messages are not printed (NOERROR,
// NOWARNING): the first error becomes the refusal's reason. The tree is copied into `XMLElement`
// values and the libxml2 document freed at once.

import Foundation
import QRPaySupport
internal import CXML2

/// An element of a parsed document: its name, namespace, attributes, child elements and text.
package struct XMLElement: Sendable {
    package let name: String
    package let namespace: String?
    package let attributes: [String: String]
    package let children: [XMLElement]
    /// The element's text (leaf elements only; whitespace between child elements is dropped).
    package let text: String
    /// The line in the file (for messages).
    package let line: Int

    package func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
    package func all(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }
}

package enum XMLReader {
    package static let maxBytes = 16 << 20
    static let maxDepth = 64

    /// Parses `data` strictly (see the top of this file). Errors: `bank.malformed`.
    package static func parse(_ data: Data, what: String) throws -> XMLElement {
        guard data.count <= maxBytes else {
            throw QRPayError(.bankMalformed, "\(what) is \(data.count) bytes, over the limit of \(maxBytes)")
        }
        guard !data.isEmpty else { throw QRPayError(.bankMalformed, "\(what) is empty") }
        guard let ctxt = xmlNewParserCtxt() else { throw QRPayError(.internalError, "libxml2 could not make a parser") }
        defer { xmlFreeParserCtxt(ctxt) }
        let options = Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue)
        let doc = data.withUnsafeBytes { raw -> xmlDocPtr? in
            xmlCtxtReadMemory(ctxt, raw.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(raw.count), "bank.xml", nil, options)
        }
        guard let doc else {
            var reason = "not well-formed XML"
            if let error = xmlCtxtGetLastError(ctxt), let message = error.pointee.message {
                reason = String(cString: message).trimmingCharacters(in: .whitespacesAndNewlines) + " (line \(error.pointee.line))"
            }
            throw QRPayError(.bankMalformed, "\(what) is not well-formed XML: \(reason)")
        }
        defer { xmlFreeDoc(doc) }
        guard doc.pointee.intSubset == nil && doc.pointee.extSubset == nil else {
            throw QRPayError(.bankMalformed, "\(what) has a DOCTYPE; bank files never declare entities or a DTD")
        }
        guard let root = xmlDocGetRootElement(doc) else { throw QRPayError(.bankMalformed, "\(what) has no root element") }
        return try element(root, depth: 0, what: what)
    }

    private static func string(_ p: UnsafePointer<xmlChar>?) -> String {
        guard let p else { return "" }
        return String(cString: UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))
    }

    private static func element(_ node: xmlNodePtr, depth: Int, what: String) throws -> XMLElement {
        let name = string(node.pointee.name)
        let line = Int(xmlGetLineNo(node))
        guard depth < maxDepth else { throw QRPayError(.bankMalformed, "\(what) nests deeper than \(maxDepth) levels (line \(line))") }
        var attributes: [String: String] = [:]
        var attr = node.pointee.properties
        while let a = attr {
            var value = ""
            var c = a.pointee.children
            while let t = c { value += string(t.pointee.content); c = t.pointee.next }
            attributes[string(a.pointee.name)] = value
            attr = a.pointee.next
        }
        var children: [XMLElement] = []
        var text = ""
        var child = node.pointee.children
        while let c = child {
            switch c.pointee.type {
            case XML_ELEMENT_NODE: children.append(try element(c, depth: depth + 1, what: what))
            case XML_TEXT_NODE, XML_CDATA_SECTION_NODE: text += string(c.pointee.content)
            case XML_COMMENT_NODE, XML_PI_NODE: break
            case XML_ENTITY_REF_NODE, XML_ENTITY_NODE:
                throw QRPayError(.bankMalformed, "\(what) refers to an entity (line \(Int(xmlGetLineNo(c)))); bank files use none")
            default:
                throw QRPayError(.bankMalformed, "\(what) has a node QR-Pay does not read (line \(Int(xmlGetLineNo(c))))")
            }
            child = c.pointee.next
        }
        if !children.isEmpty {
            guard text.allSatisfy({ $0.isWhitespace }) else {
                throw QRPayError(.bankMalformed, "\(what): <\(name)> mixes text and elements (line \(line))")
            }
            text = ""
        }
        let namespace = node.pointee.ns.map { string($0.pointee.href) }
        return XMLElement(name: name, namespace: namespace, attributes: attributes, children: children, text: text, line: line)
    }
}

/// Writes an XML document with libxml2's xmlTextWriter (indented, UTF-8).
package final class XMLWriter {
    private let buffer: xmlBufferPtr
    private let writer: xmlTextWriterPtr
    private var failed = false

    package init() throws {
        guard let buffer = xmlBufferCreate() else { throw QRPayError(.payoutXML, "libxml2 could not make a buffer") }
        guard let writer = xmlNewTextWriterMemory(buffer, 0) else {
            xmlBufferFree(buffer)
            throw QRPayError(.payoutXML, "libxml2 could not make a writer")
        }
        self.buffer = buffer
        self.writer = writer
        check(xmlTextWriterSetIndent(writer, 1))
        _ = "  ".withCString { xmlTextWriterSetIndentString(writer, UnsafeRawPointer($0).assumingMemoryBound(to: xmlChar.self)) }
        check(xmlTextWriterStartDocument(writer, "1.0", "UTF-8", nil))
    }

    deinit {
        xmlFreeTextWriter(writer)
        xmlBufferFree(buffer)
    }

    private func check(_ status: Int32) { if status < 0 { failed = true } }

    private func xml<T>(_ s: String, _ body: (UnsafePointer<xmlChar>) -> T) -> T {
        s.withCString { body(UnsafeRawPointer($0).assumingMemoryBound(to: xmlChar.self)) }
    }

    package func start(_ name: String, attributes: [(String, String)] = []) {
        check(xml(name) { xmlTextWriterStartElement(writer, $0) })
        for (key, value) in attributes {
            check(xml(key) { k in xml(value) { v in xmlTextWriterWriteAttribute(writer, k, v) } })
        }
    }

    package func end() { check(xmlTextWriterEndElement(writer)) }

    /// <name attributes…>text</name>, the text escaped.
    package func element(_ name: String, _ text: String, attributes: [(String, String)] = []) {
        start(name, attributes: attributes)
        check(xml(text) { xmlTextWriterWriteString(writer, $0) })
        end()
    }

    /// The document's bytes (every element closed).
    package func finish() throws -> Data {
        check(xmlTextWriterEndDocument(writer))
        check(xmlTextWriterFlush(writer))
        guard !failed, let content = buffer.pointee.content else { throw QRPayError(.payoutXML, "libxml2 failed to write the payout file") }
        return Data(bytes: content, count: Int(xmlBufferLength(buffer)))
    }
}
