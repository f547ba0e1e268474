// Perspective correction for zbar, which misses QR codes photographed at an angle.
//
// In a crop around a code: threshold against the local mean, close the gaps between dark modules
// (dilation), take the largest dark blob, its convex hull, and shrink the hull to the quadrilateral
// that encloses it with the least extra area (the code's outline; a corner cut off by light modules
// is restored where the neighbouring edges meet). That quadrilateral is then warped back to a
// square with a white border.

import Foundation
import QRPayImaging

struct Point2: Equatable {
    var x: Double, y: Double
}

extension GrayImage {
    /// The outline of the largest dark blob, 4 corners clockwise on screen (y down); nil if none.
    func codeQuad() -> [Point2]? {
        let w = width, h = height
        guard w >= 32, h >= 32 else { return nil }
        let side = min(w, h)
        let dark = thresholded(radius: max(3, side / 40), bias: 12)
        // Dilate: a pixel is "blob" when any dark pixel lies within `d` (box), from an integral image.
        let d = max(2, side / 60)
        let iw = w + 1
        var integral = [Int32](repeating: 0, count: iw * (h + 1))
        var blob = [Bool](repeating: false, count: w * h)
        dark.pixels.withUnsafeBufferPointer { p in
            integral.withUnsafeMutableBufferPointer { s in
                for y in 0..<h {
                    var row: Int32 = 0
                    for x in 0..<w {
                        if p[y * w + x] == 0 { row += 1 }
                        s[(y + 1) * iw + x + 1] = s[y * iw + x + 1] + row
                    }
                }
            }
        }
        integral.withUnsafeBufferPointer { s in
            blob.withUnsafeMutableBufferPointer { b in
                for y in 0..<h {
                    let y0 = max(0, y - d), y1 = min(h, y + d + 1)
                    for x in 0..<w {
                        let x0 = max(0, x - d), x1 = min(w, x + d + 1)
                        b[y * w + x] = s[y1 * iw + x1] - s[y0 * iw + x1] - s[y1 * iw + x0] + s[y0 * iw + x0] > 0
                    }
                }
            }
        }
        // Connected components of the blob mask; keep the one with the most dark pixels, preferring
        // blobs that do not touch the crop's border (the table, the paper's edge).
        var label = [Int32](repeating: -1, count: w * h)
        var best: (id: Int32, score: Int) = (-1, 0)
        var stack: [Int] = []
        var next: Int32 = 0
        for start in 0..<(w * h) where blob[start] && label[start] < 0 {
            let id = next
            next += 1
            label[start] = id
            stack.append(start)
            var count = 0, touches = false
            while let i = stack.popLast() {
                let x = i % w, y = i / w
                if dark.pixels[i] == 0 { count += 1 }
                if x == 0 || y == 0 || x == w - 1 || y == h - 1 { touches = true }
                if x > 0, blob[i - 1], label[i - 1] < 0 { label[i - 1] = id; stack.append(i - 1) }
                if x < w - 1, blob[i + 1], label[i + 1] < 0 { label[i + 1] = id; stack.append(i + 1) }
                if y > 0, blob[i - w], label[i - w] < 0 { label[i - w] = id; stack.append(i - w) }
                if y < h - 1, blob[i + w], label[i + w] < 0 { label[i + w] = id; stack.append(i + w) }
            }
            let score = touches ? count / 4 : count
            if score > best.score { best = (id, score) }
        }
        guard best.id >= 0, best.score >= 64 else { return nil }
        // Row extremes of the blob's dark pixels, then their convex hull.
        var points: [Point2] = []
        for y in 0..<h {
            var first = -1, last = -1
            for x in 0..<w where label[y * w + x] == best.id && dark.pixels[y * w + x] == 0 {
                if first < 0 { first = x }
                last = x
            }
            if first >= 0 {
                points.append(Point2(x: Double(first), y: Double(y) + 0.5))
                points.append(Point2(x: Double(last) + 1, y: Double(y) + 0.5))
            }
        }
        var hull = GrayImage.convexHull(points)
        guard hull.count >= 4 else { return nil }
        hull = GrayImage.reduceToQuad(hull)
        guard hull.count == 4 else { return nil }
        // Clockwise on screen (positive shoelace sum with y down).
        var area = 0.0
        for i in 0..<4 { let a = hull[i], b = hull[(i + 1) % 4]; area += a.x * b.y - b.x * a.y }
        if area < 0 { hull.reverse() }
        guard abs(area) / 2 >= Double(side * side) / 50 else { return nil }
        return hull
    }

    /// The quadrilateral `quad` (clockwise from any corner) warped to a `side` x `side` square,
    /// with `margin` pixels of the surroundings (white outside the image) around it.
    func rectified(_ quad: [Point2], side: Int, margin: Int) -> GrayImage {
        let map = Homography.squareToQuad(quad.map { ($0.x, $0.y) })
        let total = side + 2 * margin
        var out = [UInt8](repeating: 255, count: total * total)
        let s = Double(side)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<total {
                    let v = (Double(y - margin) + 0.5) / s
                    for x in 0..<total {
                        let u = (Double(x - margin) + 0.5) / s
                        let (fx, fy) = map.apply(u, v)
                        let sx = fx - 0.5, sy = fy - 0.5
                        guard sx >= 0, sy >= 0, sx < Double(width - 1), sy < Double(height - 1) else { continue }
                        let x0 = Int(sx), y0 = Int(sy)
                        let ax = sx - Double(x0), ay = sy - Double(y0)
                        let i = y0 * width + x0
                        let top = Double(src[i]) * (1 - ax) + Double(src[i + 1]) * ax
                        let bottom = Double(src[i + width]) * (1 - ax) + Double(src[i + width + 1]) * ax
                        dst[y * total + x] = UInt8(max(0, min(255, top * (1 - ay) + bottom * ay + 0.5)))
                    }
                }
            }
        }
        return GrayImage(width: total, height: total, pixels: out)
    }

    /// A rectified code (its square `side` pixels, `margin` round it) flattened as if it were bent
    /// round a cylinder over the arc 2*halfArc, the cylinder's axis vertical (alongY false: the
    /// modules crowd left and right) or horizontal: output u across the square samples the input
    /// at 0.5 + sin((u - 0.5) * 2 halfArc) / (2 sin halfArc).
    func unbent(halfArc: Double, alongY: Bool, margin: Int, side: Int) -> GrayImage {
        let n = alongY ? height : width
        let s = Double(side), m = Double(margin)
        // Source coordinate (continuous) of each output row/column centre.
        let source: [Double] = (0..<n).map { i in
            let u = (Double(i) + 0.5 - m) / s
            guard u > 0, u < 1 else { return Double(i) + 0.5 }
            return m + s * (0.5 + sin((u - 0.5) * 2 * halfArc) / (2 * sin(halfArc)))
        }
        var out = [UInt8](repeating: 255, count: width * height)
        pixels.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for y in 0..<height {
                    for x in 0..<width {
                        let t = (alongY ? source[y] : source[x]) - 0.5
                        let i0 = max(0, min(n - 2, Int(t))), a = max(0, min(1, t - Double(i0)))
                        let p0 = alongY ? Int(src[i0 * width + x]) : Int(src[y * width + i0])
                        let p1 = alongY ? Int(src[(i0 + 1) * width + x]) : Int(src[y * width + i0 + 1])
                        dst[y * width + x] = UInt8(Double(p0) * (1 - a) + Double(p1) * a + 0.5)
                    }
                }
            }
        }
        return GrayImage(width: width, height: height, pixels: out)
    }

    /// Andrew's monotone chain.
    static func convexHull(_ input: [Point2]) -> [Point2] {
        let points = input.sorted { $0.x != $1.x ? $0.x < $1.x : $0.y < $1.y }
        guard points.count >= 3 else { return points }
        func cross(_ o: Point2, _ a: Point2, _ b: Point2) -> Double { (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x) }
        var lower: [Point2] = [], upper: [Point2] = []
        for p in points {
            while lower.count >= 2 && cross(lower[lower.count - 2], lower[lower.count - 1], p) <= 0 { lower.removeLast() }
            lower.append(p)
        }
        for p in points.reversed() {
            while upper.count >= 2 && cross(upper[upper.count - 2], upper[upper.count - 1], p) <= 0 { upper.removeLast() }
            upper.append(p)
        }
        return Array(lower.dropLast() + upper.dropLast())
    }

    /// Removes hull edges one at a time, each time the one whose removal (extending its two
    /// neighbours to where they meet) adds the least area, until four corners remain.
    static func reduceToQuad(_ hull: [Point2]) -> [Point2] {
        var poly = hull
        func intersect(_ a: Point2, _ b: Point2, _ c: Point2, _ d: Point2) -> Point2? {
            let r = Point2(x: b.x - a.x, y: b.y - a.y), s = Point2(x: d.x - c.x, y: d.y - c.y)
            let den = r.x * s.y - r.y * s.x
            guard abs(den) > 1e-9 else { return nil }
            let t = ((c.x - a.x) * s.y - (c.y - a.y) * s.x) / den
            let u = ((c.x - a.x) * r.y - (c.y - a.y) * r.x) / den
            // Beyond b along a->b, and beyond d along c->d.
            guard t >= 1 - 1e-9, u >= 1 - 1e-9 else { return nil }
            return Point2(x: a.x + t * r.x, y: a.y + t * r.y)
        }
        while poly.count > 4 {
            let n = poly.count
            var bestIndex = -1, bestArea = Double.infinity, bestPoint = Point2(x: 0, y: 0)
            for i in 0..<n {
                // Edge (i, i+1); neighbours (i-1, i) and (i+1, i+2).
                let a = poly[(i + n - 1) % n], b = poly[i], c = poly[(i + 1) % n], d = poly[(i + 2) % n]
                guard let p = intersect(a, b, d, c) else { continue }  // lines a->b and d->c
                let area = abs((c.x - b.x) * (p.y - b.y) - (c.y - b.y) * (p.x - b.x)) / 2
                if area < bestArea { bestArea = area; bestIndex = i; bestPoint = p }
            }
            guard bestIndex >= 0 else { return [] }
            let i = bestIndex
            poly[i] = bestPoint
            poly.remove(at: (i + 1) % n)
        }
        return poly
    }
}

/// A projective map of the plane.
package struct Homography {
    package var m: [Double]  // row-major 3x3

    package func apply(_ x: Double, _ y: Double) -> (Double, Double) {
        let w = m[6] * x + m[7] * y + m[8]
        return ((m[0] * x + m[1] * y + m[2]) / w, (m[3] * x + m[4] * y + m[5]) / w)
    }

    /// The map taking the unit square's corners (0,0) (1,0) (1,1) (0,1) to `q` (Heckbert).
    package static func squareToQuad(_ q: [(Double, Double)]) -> Homography {
        let (x0, y0) = q[0], (x1, y1) = q[1], (x2, y2) = q[2], (x3, y3) = q[3]
        let dx1 = x1 - x2, dx2 = x3 - x2, dx3 = x0 - x1 + x2 - x3
        let dy1 = y1 - y2, dy2 = y3 - y2, dy3 = y0 - y1 + y2 - y3
        let den = dx1 * dy2 - dx2 * dy1
        let g = den == 0 ? 0 : (dx3 * dy2 - dx2 * dy3) / den
        let h = den == 0 ? 0 : (dx1 * dy3 - dx3 * dy1) / den
        return Homography(m: [x1 - x0 + g * x1, x3 - x0 + h * x3, x0,
                              y1 - y0 + g * y1, y3 - y0 + h * y3, y0,
                              g, h, 1])
    }

    package func inverse() -> Homography {
        let a = m
        let c00 = a[4] * a[8] - a[5] * a[7], c01 = a[2] * a[7] - a[1] * a[8], c02 = a[1] * a[5] - a[2] * a[4]
        let c10 = a[5] * a[6] - a[3] * a[8], c11 = a[0] * a[8] - a[2] * a[6], c12 = a[2] * a[3] - a[0] * a[5]
        let c20 = a[3] * a[7] - a[4] * a[6], c21 = a[1] * a[6] - a[0] * a[7], c22 = a[0] * a[4] - a[1] * a[3]
        return Homography(m: [c00, c01, c02, c10, c11, c12, c20, c21, c22])  // up to scale: fine for a projective map
    }
}
