#!/usr/bin/env python3
# How the text seeds (seeds/statement, storage_url, as_of, sql) were made, once: the string
# literals of the unit tests of each parser, filtered to those that look like its input. Run
# from anywhere; it writes into fuzz/seeds/ next to this file. The binary seeds (real
# backup files) come from backup/tests/fuzz_seeds.rs instead.
import re, sys, os, hashlib
def literals(path):
    src = open(path).read()
    out = []
    # raw strings r"..." / r#"..."#
    for m in re.finditer(r'r(#*)"(.*?)"\1', src, re.S):
        out.append(m.group(2))
    # normal strings
    for m in re.finditer(r'(?<![r#\w])"((?:[^"\\]|\\.)*)"', src, re.S):
        s = m.group(1)
        # Rust line continuation: backslash-newline + leading whitespace
        s = re.sub(r'\\\n\s*', '', s)
        try:
            s = s.encode('latin-1', 'backslashreplace').decode('unicode_escape')
        except Exception:
            continue
        out.append(s)
    return out
def write(target, items, pred):
    d = os.path.join(base, 'fuzz/seeds', target)
    os.makedirs(d, exist_ok=True)
    seen = set(); n = 0
    for s in items:
        if not pred(s) or s in seen: continue
        seen.add(s)
        b = s.encode('utf-8', 'surrogatepass')
        name = hashlib.sha1(b).hexdigest()[:16]
        open(os.path.join(d, name), 'wb').write(b); n += 1
    print(target, n)
base=os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
kw = ('BACKUP','RESTORE','SHOW','PAUSE','RESUME','CANCEL','backup','restore','show','pause','resume','cancel')
st = literals(f'{base}/backup/src/statement/tests.rs')
write('statement', st, lambda s: s.lstrip().startswith(kw) or s.lstrip().upper().startswith(tuple(k.upper() for k in kw)))
urls = literals(f'{base}/backup/src/storage/url/tests.rs') + literals(f'{base}/backup/src/storage/tests.rs') + st
write('storage_url', urls, lambda s: '://' in s and ' ' not in s.strip() and '{' not in s and len(s) < 300 and not s.lstrip().upper().startswith(('BACKUP','RESTORE','SHOW')))
ts = literals(f'{base}/model/src/timestamp.rs')
ts = [t for t in ts if len(t) < 60 and not any(c in t for c in '{%') and len(t.split()) <= 2 and t.strip()]
write('as_of', ['\0'*12 + s for s in ts] + ['\x00\x00\x64\xa7\xb3\xb6\xe0\x0d\x00\x00\x00\x00' + s for s in ts], lambda s: True)
sql = literals(f'{base}/model/src/sql/tests.rs') + literals(f'{base}/backup/tests/common/mod.rs')
sqlkw = ('CREATE','INSERT','SELECT','UPDATE','DELETE','UPSERT','ALTER','DROP','GRANT','REVOKE','BEGIN','COMMIT','USE','SET','SHOW','TRUNCATE','WITH','ROLLBACK')
write('sql', sql, lambda s: s.strip().upper().startswith(sqlkw))
