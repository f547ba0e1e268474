// zxing-cpp behind a C interface (see include/qrpay_zxing.h).
#define ZX_USE_UTF8 1
#include "qrpay_zxing.h"

#include <ZXing/ReadBarcode.h>
#include <cstdlib>
#include <cstring>
#include <new>

extern "C" int qrpay_zxing_read_qr(const uint8_t *gray, int width, int height, int try_harder,
                                   qrpay_zxing_symbol **symbols, int *count) {
    *symbols = nullptr;
    *count = 0;
    if (!gray || width <= 0 || height <= 0) return -1;
    try {
        ZXing::DecodeHints hints;
        hints.setFormats(ZXing::BarcodeFormat::QRCode);
        hints.setTryHarder(try_harder != 0);
        hints.setTryRotate(false);   // a QR code reads at any rotation anyway
        hints.setTryDownscale(true);
        ZXing::ImageView view(gray, width, height, ZXing::ImageFormat::Lum);
        auto results = ZXing::ReadBarcodes(view, hints);
        int n = 0;
        for (const auto &r : results) if (r.isValid()) n++;
        if (n == 0) return 0;
        auto *out = static_cast<qrpay_zxing_symbol *>(std::calloc((size_t)n, sizeof(qrpay_zxing_symbol)));
        if (!out) return -1;
        int i = 0;
        for (const auto &r : results) {
            if (!r.isValid()) continue;
            std::string text = r.text();
            out[i].text = static_cast<char *>(std::malloc(text.size() + 1));
            if (!out[i].text) { qrpay_zxing_free(out, i); return -1; }
            std::memcpy(out[i].text, text.data(), text.size());
            out[i].text[text.size()] = 0;
            out[i].length = text.size();
            const auto &p = r.position();
            const ZXing::PointI corners[4] = {p.topLeft(), p.topRight(), p.bottomRight(), p.bottomLeft()};
            for (int k = 0; k < 4; k++) { out[i].corners[2 * k] = corners[k].x; out[i].corners[2 * k + 1] = corners[k].y; }
            i++;
        }
        *symbols = out;
        *count = i;
        return 0;
    } catch (...) {
        return -1;
    }
}

extern "C" void qrpay_zxing_free(qrpay_zxing_symbol *symbols, int count) {
    if (!symbols) return;
    for (int i = 0; i < count; i++) std::free(symbols[i].text);
    std::free(symbols);
}
