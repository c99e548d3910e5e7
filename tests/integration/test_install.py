"""`make install` / `make uninstall`, and what they install: the binary,
the man page async-auditor(1) and the bash and zsh completions.

Why this exists: the man page and the completions are generated at build
time from the option table that --help prints; this checks the result the
way a user meets it.  The man page must render without a warning and say,
option for option, what --help says; bash completion must offer every
option --help lists and complete values by context; zsh's file must parse;
`make uninstall` must remove exactly what `make install` put there.

The build directory is the one of the auditor under test ($AA_AUDITOR),
so `make install` finds it built and does not build another.
"""

import os
import re
import shutil
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

INSTALLED = ["usr/bin/async-auditor",
             "usr/share/man/man1/async-auditor.1",
             "usr/share/bash-completion/completions/async-auditor",
             "usr/share/zsh/site-functions/_async-auditor"]


def _make(target, build, destdir):
    return subprocess.run(
        ["make", "--no-print-directory", target, "BUILD=" + build,
         "DESTDIR=" + destdir, "PREFIX=/usr"],
        cwd=REPO, capture_output=True, text=True, timeout=600)


def _files(root):
    out = set()
    for d, _, names in os.walk(root):
        for n in names:
            out.add(os.path.relpath(os.path.join(d, n), root))
    return out


@pytest.fixture(scope="module")
def installed(auditor, tmp_path_factory):
    for tool in ("make", "groff", "man"):
        if shutil.which(tool) is None:
            pytest.fail("%s is needed (scripts/bootstrap installs it)" % tool)
    build = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(auditor))))
    root = str(tmp_path_factory.mktemp("destdir"))
    # something that is not ours, which uninstall must leave alone
    os.makedirs(os.path.join(root, "usr", "bin"))
    with open(os.path.join(root, "usr", "bin", "other-tool"), "w") as f:
        f.write("#!/bin/sh\n")
    res = _make("install", build, root)
    assert res.returncode == 0, res.stdout + res.stderr
    return {"root": root, "build": build,
            "path": lambda rel: os.path.join(root, rel)}


def _help(installed):
    res = subprocess.run([installed["path"](INSTALLED[0]), "--help"],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _help_items(text):
    """{label: explanation} of the indented two-column lists of --help
    (commands, options, environment), whitespace normalised."""
    items = {}
    label = None
    for line in text.splitlines():
        m = re.match(r"^  (\S.*?)(?:\s{2,}(\S.*))?$", line)
        if m and not line.startswith("   "):
            label = m.group(1).strip()
            items[label] = m.group(2) or ""
        elif label is not None and re.match(r"^ {20,}\S", line):
            items[label] = (items[label] + " " + line.strip()).strip()
        else:
            label = None
    return {k: " ".join(v.split()) for k, v in items.items()}


def _man_text(path):
    """The man page as plain text, one paragraph per line (no wrapping,
    no hyphenation), so that it compares with --help word for word."""
    res = subprocess.run(
        ["groff", "-man", "-Tutf8", "-P-cbou", "-rLL=3000n", "-rHY=0",
         path], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    # groff's utf8 device may print U+2010 for hyphens and U+2212 for \-
    return res.stdout.replace("\u2010", "-").replace("\u2212", "-")


def _man_items(text, section):
    """{label: explanation} of the tagged paragraphs (.TP) of one section:
    the label at column 7, the explanation at column 14, on the label's
    line when the label is short enough, else on the next."""
    lines = text.splitlines()
    items = {}
    i = lines.index(section) + 1
    while i < len(lines) and not re.match(r"^[A-Z][A-Z ]+$", lines[i]):
        line = lines[i]
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if re.match(r"^ {7}\S", line):
            if re.match(r"^ {14}\S", nxt):
                items[line.strip()] = " ".join(nxt.split())
            elif re.match(r"^ {7}\S.{0,5} +\S", line) and line[13] == " " \
                    and line[14] != " ":
                items[line[7:14].strip()] = " ".join(line[14:].split())
        i += 1
    return items


def test_installs_exactly_the_four_files(installed):
    files = _files(installed["root"]) - {"usr/bin/other-tool"}
    assert files == set(INSTALLED)
    assert os.access(installed["path"](INSTALLED[0]), os.X_OK)
    for rel in INSTALLED[1:]:
        mode = os.stat(installed["path"](rel)).st_mode & 0o777
        assert mode == 0o644, (rel, oct(mode))


def test_version_command_matches_version_flag(installed):
    exe = installed["path"](INSTALLED[0])
    a = subprocess.run([exe, "version"], capture_output=True, text=True)
    b = subprocess.run([exe, "--version"], capture_output=True, text=True)
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout and a.stdout.startswith("async-auditor ")


def test_man_page_renders_without_warnings(installed):
    page = installed["path"](INSTALLED[1])
    res = subprocess.run(["groff", "-ww", "-z", "-man", page],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    env = dict(os.environ, MANWIDTH="80", MANPAGER="cat", PAGER="cat")
    res = subprocess.run(["man", "--warnings", "-l", page], env=env,
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    for heading in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS",
                    "EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES",
                    "SEE ALSO"):
        assert "\n" + heading + "\n" in res.stdout, heading


def test_man_page_says_what_help_says(installed):
    help_items = _help_items(_help(installed))
    man = _man_text(installed["path"](INSTALLED[1]))
    man_options = _man_items(man, "OPTIONS")
    help_options = {k: v for k, v in help_items.items()
                    if k.startswith("-")}
    assert len(help_options) > 30, help_options
    assert man_options == help_options
    man_exit = _man_items(man, "EXIT STATUS")
    help_text = _help(installed)
    exit_part = help_text.split("\nExit status:\n", 1)[1].split("\n\n")[0]
    help_exit = {}
    for line in exit_part.splitlines():
        m = re.match(r"^  (\d+)\s+(.*)$", line)
        if m:
            code = m.group(1)
            help_exit[code] = m.group(2)
        else:
            help_exit[code] += " " + line.strip()
    assert man_exit == {k: " ".join(v.split())
                        for k, v in help_exit.items()}
    assert set(man_exit) == {"0", "1", "2", "3", "4", "64", "78"}
    man_env = _man_items(man, "ENVIRONMENT")
    assert set(man_env) == {"ASYNC_AUDITOR_PASSWORD",
                            "ASYNC_AUDITOR_BEARER_TOKEN", "NO_COLOR"}
    for name, text in man_env.items():
        assert help_items[name] == text
    usage = [" ".join(l.split()) for l in
             help_text.split("\n\n")[0].splitlines()[1:]]
    joined = []
    for line in usage:  # continuation lines of a wrapped usage line
        if line.startswith("async-auditor "):
            joined.append(line)
        else:
            joined[-1] += " " + line
    synopsis = man.split("\nSYNOPSIS\n", 1)[1].split("\nDESCRIPTION\n")[0]
    assert [" ".join(l.split()) for l in synopsis.splitlines()
            if l.strip()] == joined


def _bash_complete(script, words):
    """COMPREPLY of the bash completion function for words (the last one
    being completed)."""
    prog = ('source "$1"; shift; COMP_WORDS=("$@"); '
            'COMP_CWORD=$(($# - 1)); _async_auditor; '
            'printf "%s\\n" "${COMPREPLY[@]}"')
    res = subprocess.run(["bash", "-c", prog, "bash", script] + words,
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return [w for w in res.stdout.splitlines() if w]


def test_bash_completion(installed, tmp_path):
    script = installed["path"](INSTALLED[2])
    res = subprocess.run(["bash", "-c",
                          'source "$1" && complete -p async-auditor',
                          "bash", script],
                         capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "complete -F _async_auditor async-auditor"

    assert _bash_complete(script, ["async-auditor", "--ta"]) == ["--target"]
    flags = set(_bash_complete(script, ["async-auditor", "--"]))
    help_flags = set(re.findall(r"(?m)^  (?:-\w, )?(--[a-z-]+)",
                                _help(installed)))
    assert help_flags - flags == set()
    assert set(_bash_complete(script, ["async-auditor", ""])) == \
        {"check", "rules", "version"}
    assert set(_bash_complete(script, ["async-auditor", "rules", ""])) == \
        {"lint", "export"}
    assert _bash_complete(
        script, ["async-auditor", "rules", "export", "a.yaml", "--format",
                 "g"]) == ["grafana"]
    assert _bash_complete(
        script, ["async-auditor", "--target", "http://x", "--format",
                 "j"]) == ["json", "junit"]
    # "--format=ma" as one word, and as bash splits it at "="
    assert _bash_complete(script, ["async-auditor", "--format=ma"]) == \
        ["--format=markdown"]
    assert _bash_complete(script, ["async-auditor", "--format", "=",
                                   "ma"]) == ["markdown"]
    # file options complete file names; free-text values get nothing
    (tmp_path / "metrics.yaml").write_text("")
    prefix = str(tmp_path / "metr")
    assert _bash_complete(script, ["async-auditor", "--config", prefix]) \
        == [str(tmp_path / "metrics.yaml")]
    assert _bash_complete(script, ["async-auditor", "rules", "lint",
                                   prefix]) == [str(tmp_path / "metrics.yaml")]
    assert _bash_complete(script, ["async-auditor", "--window", ""]) == []


def test_zsh_completion_parses(installed):
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.fail("zsh is needed (scripts/bootstrap installs it)")
    script = installed["path"](INSTALLED[3])
    res = subprocess.run([zsh, "-n", script], capture_output=True, text=True,
                         timeout=30)
    assert res.returncode == 0, res.stderr
    with open(script) as f:
        text = f.read()
    assert text.startswith("#compdef async-auditor\n")
    for flag in re.findall(r"(?m)^  (?:-\w, )?(--[a-z-]+)",
                           _help(installed)):
        assert flag in text, flag


def test_uninstall_removes_exactly_what_was_installed(installed):
    res = _make("uninstall", installed["build"], installed["root"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert _files(installed["root"]) == {"usr/bin/other-tool"}
