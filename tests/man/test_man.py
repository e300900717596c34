#!/usr/bin/python3
"""test_man.py BUILD_DIR - the man pages against what they describe.

Run from the source tree with Debian's /usr/bin/python3 (scripts/test.sh
does). Each check prints "ok NAME" or "FAIL NAME: why"; the last line is
"N passed, M failed".

The lists of functions, prototypes, error codes and CLI commands are taken
here without scripts/mkman, so that a fault of the generator shows:
  - BUILD/man must be what scripts/mkman makes of include/wom.h now (no
    stale pages: a build regenerates them when the header changes);
  - the functions: the declarations the compiler sees with WOM_API's
    visibility attribute (cc -E on include/wom.h), and the wom_* symbols
    libwom.so exports (nm -D); the two must agree, every one must have a
    page in BUILD/man/man3 that names it and shows its prototype as the
    compiler read it, and no page may name a function that does not exist;
  - every page must render without a warning from groff (-ww: all of
    them) and mandoc (-T lint -W warning);
  - wom(7) must list every function and every error code with its value
    (the wom_errno enum the compiler expands);
  - cmake --install must install every page where man finds it;
  - docs/wom.1 must document every command of `BUILD/wom --help`, each
    option of each command's help and every exit status, and no command the
    binary lacks.
"""
import concurrent.futures
import filecmp
import os
import re
import subprocess
import sys
import tempfile

passed = 0
failed = 0


def check(name, problems):
    """problems: a list of strings, empty when the check holds."""
    global passed, failed
    if problems:
        failed += 1
        print("FAIL %s: %s" % (name, "; ".join(problems[:10]) +
                                ("; ... (%d in all)" % len(problems) if len(problems) > 10 else "")))
    else:
        passed += 1
        print("ok   %s" % name)


def run(argv, **kw):
    env = dict(os.environ, LC_ALL="C", MANWIDTH="200", PAGER="cat")
    for v in ("MANPAGER", "MAN_KEEP_FORMATTING", "MANPATH", "MANOPT"):
        env.pop(v, None)
    return subprocess.run(argv, capture_output=True, text=True, env=env, **kw)


def norm(s):
    s = " ".join(s.split())
    return s.replace("( ", "(").replace(" )", ")").replace(" ,", ",").replace(" ;", ";")


def header_functions():
    """{name: prototype} of the declarations cc sees with WOM_API's attribute."""
    r = run(["cc", "-E", "-P", "include/wom.h"])
    if r.returncode:
        sys.exit("cc -E include/wom.h failed: " + r.stderr)
    attr = '__attribute__((visibility("default")))'
    out = {}
    for decl in r.stdout.split(";"):
        if attr not in decl:
            continue
        decl = norm(decl.split(attr, 1)[1]) + ";"
        m = re.search(r"\b(wom_\w+)\s*\(", decl)
        out[m.group(1)] = decl
    return out, r.stdout


def exported(build):
    r = run(["nm", "-D", "--defined-only", os.path.join(build, "libwom.so")])
    if r.returncode:
        sys.exit("nm -D libwom.so failed: " + r.stderr)
    return {l.split()[-1] for l in r.stdout.splitlines() if l.split()[-1].startswith("wom_")}


def render(path, cwd):
    """(text, problems) of one page: groff with every warning on (-ww; what
    man --warnings asks of it, and more, without man-db's slow start), and
    mandoc's linter."""
    problems = []
    r = run(["groff", "-man", "-Tascii", "-ww", "-rLL=200n", "-P-cbou", path], cwd=cwd)
    if r.returncode or r.stderr.strip():
        problems.append("groff -ww: " + " | ".join(r.stderr.strip().splitlines()[:3]))
    m = run(["mandoc", "-T", "lint", "-W", "warning", path], cwd=cwd)
    if m.stdout.strip() or m.stderr.strip():
        problems.append("mandoc: " + " | ".join((m.stdout + m.stderr).strip().splitlines()[:3]))
    text = re.sub(r".\x08", "", r.stdout)
    return text, problems


def sections(text):
    """{HEADING: body} of rendered man text: a heading is a line in column 0
    in capitals; the title and footer lines end the section before them."""
    out, cur = {}, None
    for line in text.splitlines():
        if line and not line[0].isspace():
            cur = line.strip() if line == line.upper() and "(" not in line else None
            if cur:
                out[cur] = []
        elif cur is not None:
            out[cur].append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def check_pages(build):
    protos, _ = header_functions()
    syms = exported(build)
    check("header WOM_API functions = libwom.so's exported wom_* symbols",
          ["declared, not exported: " + n for n in sorted(set(protos) - syms)] +
          ["exported, not declared: " + n for n in sorted(syms - set(protos))])
    man3 = os.path.join(build, "man", "man3")
    if not os.path.isdir(man3):
        check("build/man/man3 exists", ["no directory " + man3])
        return protos
    files = sorted(os.listdir(man3))
    names = {f[:-2] for f in files if f.endswith(".3")}
    check("every function has a page (%d functions)" % len(set(protos) | syms),
          ["no page for " + n for n in sorted((set(protos) | syms) - names)])
    check("no page for a function that does not exist",
          ["%s names no function" % f for f in files if not f.endswith(".3") or f[:-2] not in protos])
    # render each page once, two at a time (man-db is slow to start)
    reals = sorted({os.path.realpath(os.path.join(man3, f)) for f in files})
    reals = [r for r in reals if os.path.isfile(r)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        rendered = dict(zip(reals, pool.map(lambda r: render(r, os.path.join(build, "man")),
                                            reals)))
    for f in files:
        real = os.path.realpath(os.path.join(man3, f))
        if not os.path.isfile(real) or os.path.dirname(real) != os.path.realpath(man3):
            check("page %s" % f, ["a link to nothing in man3: " + real])
            continue
        text, problems = rendered[real]
        fn = f[:-2]
        sec = sections(text)
        nm = sec.get("NAME", "")
        if not re.search(r"(^|[\s,])%s(,|\s)" % re.escape(fn), nm):
            problems = problems + ["NAME does not name %s" % fn]
        syn = norm(sec.get("SYNOPSIS", ""))
        if "#include <wom.h>" not in syn:
            problems = problems + ["SYNOPSIS lacks #include <wom.h>"]
        got = [norm(p) + ";" for p in syn.replace("#include <wom.h>", "").split(";") if p.strip()]
        if fn in protos and protos[fn] not in got:
            near = [g for g in got if (fn + "(") in g]
            problems = problems + ["SYNOPSIS shows %r, the header declares %r"
                                   % (near[0] if near else None, protos[fn])]
        if "Undocumented" in sec.get("DESCRIPTION", ""):
            problems = problems + ["include/wom.h has no comment for it"]
        for k in ("LIBRARY", "DESCRIPTION", "RETURN VALUE", "SEE ALSO"):
            if not sec.get(k, "").strip():
                problems = problems + ["no %s section" % k]
        check("page %s renders cleanly, names it, shows its prototype" % f, problems)
    return protos


def check_overview(build, protos):
    path = os.path.abspath(os.path.join(build, "man", "man7", "wom.7"))
    if not os.path.isfile(path):
        check("wom(7)", ["no " + path])
        return
    text, problems = render(path, os.path.join(build, "man"))
    sec = sections(text)
    funcs = sec.get("FUNCTIONS", "")
    problems += ["FUNCTIONS lacks " + n for n in sorted(protos) if n + "()" not in funcs]
    _, pre = header_functions()
    codes = re.findall(r"\b(WOM_E[A-Z]+) = \((-?\d+)\)", pre)
    if len(codes) < 10:
        problems.append("cc -E shows only %d error codes" % len(codes))
    errs = " ".join(sec.get("ERRORS", "").split())
    problems += ["ERRORS lacks %s (%s)" % c for c in codes if "%s (%s)" % c not in errs]
    check("wom(7) renders cleanly, lists %d functions and %d error codes"
          % (len(protos), len(codes)), problems)


def wom1_entries(src):
    """docs/wom.1 as {section: [lines]} of its source."""
    out, cur = {}, None
    with open(src) as f:
        for line in f.read().splitlines():
            if line.startswith(".SH "):
                cur = line[4:].strip().strip('"')
                out[cur] = []
            elif cur:
                out[cur].append(line)
    return out


def plain(s):
    s = re.sub(r"\\f[BIRP]", "", s)
    s = s.replace("\\-", "-").replace("\\e", "\\").replace('"', "")
    s = re.sub(r"^\.(B|I|BR|BI|IR|RB|IB|RI)\s", "", s)
    return s


def items(lines):
    """The .TP items of a section: [(tag, body lines)]."""
    out = []
    i = 0
    while i < len(lines):
        if lines[i].startswith(".TP") and i + 1 < len(lines):
            out.append((plain(lines[i + 1]), []))
            i += 2
            continue
        if out:
            out[-1][1].append(lines[i])
        i += 1
    return out


def check_wom1(build):
    wom = os.path.join(build, "wom")
    doc = "docs/wom.1"
    text, problems = render(os.path.abspath(doc), ".")
    check("docs/wom.1 renders cleanly", problems)
    r = run([wom, "--help"])
    if r.returncode:
        check("wom --help", ["exit %d" % r.returncode])
        return
    m = re.search(r"\nCommands:\n((?:  \S.*\n)+)", r.stdout)
    if not m:
        check("wom --help lists commands", ["no 'Commands:' list in its output"])
        return
    commands = [l.split()[0] for l in m.group(1).splitlines()]
    sec = wom1_entries(doc)
    entries = {}
    for tag, body in items(sec.get("COMMANDS", [])):
        w = tag.split()
        if len(w) >= 2 and w[0] == "wom":
            entries.setdefault(w[1], []).append(" ".join([tag] + body))
    check("wom(1) documents the commands of wom --help (%d)" % len(commands),
          ["wom(1) lacks command " + c for c in commands if c not in entries] +
          ["wom(1) documents %s, which wom --help does not list" % c
           for c in entries if c not in commands])
    opts = {}
    for tag, body in items(sec.get("OPTIONS", [])):
        for o in re.findall(r"--([a-z][a-z-]*)", tag):
            opts[o] = plain(" ".join(body))
    for c in commands:
        h = run([wom, "help", c])
        om = re.search(r"\nOptions:\n((?:  -.*\n)+)", h.stdout)
        theirs = re.findall(r"^  --([a-z][a-z-]*)", om.group(1), re.M) if om else []
        probs = []
        for o in theirs:
            if o == "help":
                continue
            if o not in opts:
                probs.append("--%s is not under OPTIONS" % o)
            mine = plain(" ".join(entries.get(c, [])))
            if ("--" + o) not in mine and not re.search(r"\b%s\b" % re.escape(c), opts.get(o, "")):
                probs.append("neither the entry of %s nor OPTIONS' --%s ties them" % (c, o))
        check("wom(1) documents the options of wom %s (%d)" % (c, len(theirs)), probs)
    codes = re.findall(r"^\s+(\d+)  ", r.stdout.split("Exit status:")[-1], re.M)
    status = [plain(t).strip() for t, _ in items(sec.get("EXIT STATUS", []))]
    check("wom(1) documents the exit statuses of wom --help (%d)" % len(codes),
          ["wom(1) lacks exit status " + c for c in codes if c not in status] +
          ["wom(1) documents exit status %s, which wom --help does not" % s
           for s in status if s not in codes])


def check_current(build):
    """build/man is what scripts/mkman makes of include/wom.h now (a build
    after the header changed regenerates it: no stale page gets tested)."""
    with tempfile.TemporaryDirectory() as tmp:
        r = run(["/usr/bin/python3", "scripts/mkman", "include/wom.h", tmp])
        if r.returncode:
            check("scripts/mkman runs", [r.stderr.strip()])
            return
        probs = []
        for sub in ("man3", "man7"):
            a, b = os.path.join(build, "man", sub), os.path.join(tmp, sub)
            if not os.path.isdir(a):
                probs.append("no " + a)
                continue
            d = filecmp.dircmp(a, b)
            probs += ["%s/%s: only in the build" % (sub, f) for f in d.left_only]
            probs += ["%s/%s: missing from the build" % (sub, f) for f in d.right_only]
            probs += ["%s/%s: differs" % (sub, f) for f in d.diff_files]
        check("build/man is current with include/wom.h", probs)


def check_install(build, protos):
    """cmake --install puts every page under share/man, where man finds it
    by name (man -M, as man finds /usr/local/share/man after make install)."""
    with tempfile.TemporaryDirectory() as tmp:
        r = run(["cmake", "--install", build, "--prefix", tmp])
        if r.returncode:
            check("cmake --install", [r.stderr.strip() or r.stdout.strip()])
            return
        mandir = os.path.join(tmp, "share", "man")
        probs = []
        for n in sorted(protos):
            if not os.path.isfile(os.path.join(mandir, "man3", n + ".3")):
                probs.append("no man3/%s.3 installed" % n)
        for sect, page, want in (("3", "wom_put", "wom_put - "),
                                 ("3", "wom_chan_close", "wom_chan_close - "),
                                 ("7", "wom", "WOM_ERRNO_MAP"), ("1", "wom", "wom cluster up")):
            m = run(["man", "-M", mandir, sect, page])
            if m.returncode or want not in re.sub(r".\x08", "", m.stdout):
                probs.append("man -M %s %s %s: exit %d, %r not shown %s"
                             % (mandir, sect, page, m.returncode, want, m.stderr.strip()))
        check("make install: man finds the installed pages", probs)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: test_man.py BUILD_DIR (from the source tree)")
    build = sys.argv[1]
    check_current(build)
    protos = check_pages(build)
    check_overview(build, protos)
    check_install(build, protos)
    check_wom1(build)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
