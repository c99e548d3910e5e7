/*
 * regex.h: the regular expressions of label matchers (=~, !~) in scrape
 * and samples mode, with the syntax and semantics of Go's regexp/syntax
 * (RE2) as Prometheus uses them, and a matcher whose time is linear in
 * the input: no pattern can make compiling or matching hang.
 *
 * Matching is always full: aa_re_match(re, s) is Prometheus's
 * `label=~"re"`, i.e. Go's regexp.MatchString("^(?:re)$", s).
 *
 * Bounds: a compiled program has at most AA_RE_MAX_INST instructions
 * ("regular expression too large" past it), a counted repetition at most
 * AA_RE_MAX_REPEAT (RE2's limit, also for the product of nested counts),
 * and groups and operators nest at most AA_RE_MAX_DEPTH deep.  A match
 * costs O(n x instructions) time and no allocation.
 *
 * Supported, as in RE2: literals; `.` (not newline unless (?s)); classes
 * [a-z] [^...] with ranges, escapes, Perl classes \d \s \w (and \D \S
 * \W) and POSIX classes [[:alpha:]] [[:^digit:]]; escapes \a \f \n \r \t
 * \v, octal \123, \xHH, \x{HHHH}, \Q...\E and any escaped punctuation;
 * alternation; groups ( ), (?:...), named (?P<n>...) and (?<n>...);
 * flags i, m, s, U as (?flags) and (?flags:...), negated with -;
 * repetition * + ? {n} {n,} {n,m} and their lazy forms; anchors ^ $ \A
 * \z; ASCII word boundaries \b \B.  Rejected with RE2's message and the
 * column: backreferences, lookaround, possessive and nested repetition,
 * unbalanced parentheses or brackets, bad counts, unknown escapes (\C,
 * \Z), invalid UTF-8.  Not supported, though RE2 has them: the Unicode
 * classes \p and \P (this engine has no Unicode tables); and case
 * folding (?i) covers ASCII, Latin-1, basic Greek and Cyrillic, other
 * letters matching case-sensitively.
 *
 * Conventions: see common.h.
 */
#ifndef AA_REGEX_H
#define AA_REGEX_H

#include <stdbool.h>
#include <stddef.h>

#include "aa/common.h"

#define AA_RE_MAX_INST 65536
#define AA_RE_MAX_REPEAT 1000
#define AA_RE_MAX_DEPTH 1000

typedef struct aa_re aa_re;

/*
 * Compiles pattern (NUL-terminated UTF-8).  A pattern RE2 rejects is
 * AA_ESYNTAX; one past the bounds above is AA_ETOOBIG; a valid pattern
 * using a Unicode class is AA_EUNSUPPORTED.  All fill diag with the
 * 1-based byte column in pattern and a message such as "missing closing
 * ): `(((`".
 */
int aa_re_compile(const char *pattern, aa_re **out, aa_diag *diag);

/*
 * Whether all of s[0..n) matches (fully anchored).  Input that is not
 * valid UTF-8 is read as Go reads it: each bad byte is one U+FFFD.
 * Uses scratch space inside re: one aa_re must not be matched from two
 * threads at once.
 */
bool aa_re_match(const aa_re *re, const char *s, size_t n);

/* Number of instructions of the compiled program (for tests). */
size_t aa_re_size(const aa_re *re);

void aa_re_free(aa_re *re);

#endif
