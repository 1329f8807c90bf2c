/*
 * utf8.h - telling valid UTF-8 from bytes that are not, for the writers of
 * text that must be UTF-8 (JSON reports, pool names cut to fit) and the
 * readers that print what a node holds.
 *
 * Valid is RFC 3629's: no overlong forms, no surrogates, nothing above
 * U+10FFFF.
 *
 * Locking: none.
 */
#ifndef AREA_MALLOC_FORMAT_UTF8_H
#define AREA_MALLOC_FORMAT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence at text (1 for an ASCII byte, NUL
 * included), or 0 when the bytes there are not one. Reads no further than
 * a NUL: a NUL is never a continuation byte. */
static inline size_t utf8_sequence(const unsigned char *text)
{
	size_t length;
	uint32_t code;

	if (text[0] < 0x80)
		return 1;
	if (text[0] >= 0xc2 && text[0] <= 0xdf) {
		length = 2;
		code = text[0] & 0x1f;
	} else if (text[0] >= 0xe0 && text[0] <= 0xef) {
		length = 3;
		code = text[0] & 0x0f;
	} else if (text[0] >= 0xf0 && text[0] <= 0xf4) {
		length = 4;
		code = text[0] & 0x07;
	} else {
		return 0;
	}
	for (size_t i = 1; i < length; i++) {
		if ((text[i] & 0xc0) != 0x80)
			return 0;
		code = (code << 6) | (text[i] & 0x3f);
	}
	if ((length == 3 && (code < 0x800 || (code >= 0xd800 && code <= 0xdfff)))
		|| (length == 4 && (code < 0x10000 || code > 0x10ffff)))
		return 0;
	return length;
}

#endif /* AREA_MALLOC_FORMAT_UTF8_H */
