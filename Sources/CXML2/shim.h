// libxml2 (Debian's libxml2-dev): the strict parser of bank files and the writer of payout files.
// Debian builds libxml2 with ICU, whose headers clash with Foundation's own copy of ICU: QR-Pay uses
// no ICU converter, so encoding.h is read without them (only pointers to that struct are used).
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>
#include <libxml/xmlerror.h>
