// Distinguished names as text ("C=CH, O=Example, CN=moon") and as DER, for
// ID_DER_ASN1_DN identities.
#pragma once

#include <string>

#include "common/bytes.hpp"
#include "common/result.hpp"

namespace mobiked::crypto {

// Parses comma-separated RDNs (short names C, ST, L, O, OU, CN, E/emailAddress, ...)
// into the DER encoding of an X.509 Name.
Result<Bytes> dn_from_string(const std::string& text);
// RFC 2253-ish text of a DER Name; "<invalid DN>" if it does not parse.
std::string dn_to_string(ByteView der);

}  // namespace mobiked::crypto
