/*
 * tool_docgen.c: async-auditor-docgen, run at build time (docs/
 * meson.build) to write the man page async-auditor(1) and the bash and
 * zsh completion scripts from the same description of the command line
 * that --help prints and the parser reads (tool_help.c).  Nothing here is
 * written by hand per option, so an option added to the table appears in
 * all three, and none can disagree with --help.
 *
 * Usage: async-auditor-docgen man|bash|zsh > FILE
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "aa/result.h"
#include "aa_version.h"
#include "tool_help.h"

/* ---- roff ----------------------------------------------------------------
 */

/*
 * Writes s as roff text: backslashes as \e, a leading '.' or '\'' made
 * literal with \&, and a '-' that starts a word (an option such as
 * --target, or the second dash of one) as \-, so that it renders as the
 * ASCII minus a reader can copy; other hyphens stay hyphens.  Such a word
 * is marked \% so that it is never hyphenated across lines either.
 */
static void roff_text(FILE *fp, const char *s, bool mark_words)
{
    char prev = ' ';

    if (*s == '.' || *s == '\'') {
        fputs("\\&", fp);
    }
    for (; *s != '\0'; s++) {
        if (prev == ' ' && mark_words) {
            size_t n = strcspn(s, " ");
            const char *dashes = strstr(s, "--");

            if (*s == '-' || (dashes != NULL && dashes < s + n)) {
                fputs("\\%", fp);
            }
        }
        if (*s == '\\') {
            fputs("\\e", fp);
        } else if (*s == '-' &&
                   (prev == '-' || strchr(" ([|'\"/=", prev) != NULL)) {
            fputs("\\-", fp);
        } else {
            fputc(*s, fp);
        }
        prev = *s;
    }
}

static void roff(FILE *fp, const char *s)
{
    roff_text(fp, s, true);
}

/* One synopsis word (brackets and "|" around it kept): options and
 * literal words bold, upper-case value names italic; never hyphenated
 * (\% before the whole word, brackets included). */
static void roff_token(FILE *fp, const char *t, size_t n)
{
    char core[128];
    size_t a = 0, b = n;
    bool upper = true;

    fputs("\\%", fp);
    while (a < b && t[a] == '[') {
        fputc('[', fp);
        a++;
    }
    while (b > a && (t[b - 1] == ']')) {
        b--;
    }
    snprintf(core, sizeof(core), "%.*s", (int)(b - a), t + a);
    for (const char *c = core; *c != '\0'; c++) {
        upper = upper && (isupper((unsigned char)*c) || *c == '_');
    }
    if (strcmp(core, "...") == 0 || strcmp(core, "|") == 0) {
        fputs(core, fp);
    } else if (upper || strcmp(core, "options") == 0) {
        fputs("\\fI", fp);
        roff_text(fp, core, false);
        fputs("\\fR", fp);
    } else {
        /* "prometheus|grafana": each alternative bold */
        for (const char *c = core; *c != '\0';) {
            size_t k = strcspn(c, "|");
            char alt[128];

            fputs("\\fB", fp);
            snprintf(alt, sizeof(alt), "%.*s", (int)k, c);
            roff_text(fp, alt, false);
            fputs("\\fR", fp);
            c += k;
            if (*c == '|') {
                fputc('|', fp);
                c++;
            }
        }
    }
    for (; b < n; b++) {
        fputc(t[b], fp);
    }
}

static void roff_synopsis_line(FILE *fp, const char *line)
{
    bool first = true;

    while (*line != '\0') {
        size_t n = strcspn(line, " ");

        if (n > 0) {
            if (!first) {
                fputc(' ', fp);
            }
            roff_token(fp, line, n);
            first = false;
        }
        line += n;
        line += strspn(line, " ");
    }
    fputc('\n', fp);
}

/* ".TP" with the option's label: names bold, the value italic. */
static void roff_option_label(FILE *fp, const tool_opt *o)
{
    fputs(".TP\n", fp);
    if (o->name == NULL) {
        fputs("\\fB\\-\\-\\fR ", fp);
        roff_synopsis_line(fp, o->arg);
        return;
    }
    if (o->short_name != 0) {
        fprintf(fp, "\\fB\\-%c\\fR, ", o->short_name);
    }
    fputs("\\fB\\-\\-", fp);
    roff(fp, o->name);
    fputs("\\fR", fp);
    if (o->arg != NULL) {
        fputs(" \\fI", fp);
        roff(fp, o->arg);
        fputs("\\fR", fp);
    }
    fputc('\n', fp);
}

static void roff_para(FILE *fp, const char *text)
{
    roff(fp, text);
    fputc('\n', fp);
}

static void gen_man(FILE *fp)
{
    char text[1024];

    fputs(
        ".\\\" async-auditor(1), written by async-auditor-docgen from\n"
        ".\\\" src/auditor/tool_help.c, the table --help prints: edit that.\n",
        fp);
    fputs(".TH ASYNC\\-AUDITOR 1 \"\" \"" TOOL_PROG " " AA_VERSION
          "\" \"User Commands\"\n",
          fp);
    fputs(".SH NAME\n" TOOL_PROG " \\- ", fp);
    roff_para(fp, tool_summary);

    fputs(".SH SYNOPSIS\n", fp);
    for (size_t i = 0; tool_synopsis[i] != NULL; i++) {
        fputs(".SY " TOOL_PROG "\n", fp);
        roff_synopsis_line(fp, tool_synopsis[i]);
        fputs(".YS\n", fp);
    }

    fputs(".SH DESCRIPTION\n", fp);
    for (size_t i = 0; tool_description[i] != NULL; i++) {
        fputs(i > 0 ? ".PP\n" : "", fp);
        roff_para(fp, tool_description[i]);
    }
    fputs(".SS Commands\n", fp);
    for (size_t i = 0; tool_commands[i].word != NULL; i++) {
        char label[64];

        fputs(".TP\n\\fB", fp);
        roff(fp, tool_command_label(&tool_commands[i], label, sizeof(label)));
        fputs("\\fR", fp);
        if (tool_commands[i].args[0] != '\0') {
            fputs(" \\fI", fp);
            roff(fp, tool_commands[i].args);
            fputs("\\fR", fp);
        }
        fputc('\n', fp);
        roff_para(fp, tool_commands[i].help);
    }

    fputs(".SH OPTIONS\n", fp);
    for (int s = 0; s < TOOL_NSECTIONS; s++) {
        fputs(".SS ", fp);
        roff_para(fp, tool_section_title((tool_section)s));
        for (size_t i = 0; i < tool_nopts; i++) {
            if (tool_opts[i].section == (tool_section)s) {
                roff_option_label(fp, &tool_opts[i]);
                roff_para(fp,
                          tool_opt_help(&tool_opts[i], text, sizeof(text)));
            }
        }
    }
    fputs(".PP\n", fp);
    for (size_t i = 0; tool_notes[i] != NULL; i++) {
        fputs(i > 0 ? ".br\n" : "", fp);
        roff_para(fp, tool_notes[i]);
    }

    fputs(".SH EXIT STATUS\n", fp);
    for (int code = 0; code < 256; code++) {
        const char *t = tool_exit_help(code);

        if (t != NULL) {
            fprintf(fp, ".TP\n.B %d\n", code);
            roff_para(fp, t);
        }
    }

    fputs(".SH ENVIRONMENT\n", fp);
    for (size_t i = 0; tool_environment[i].name != NULL; i++) {
        fputs(".TP\n.B ", fp);
        roff_para(fp, tool_environment[i].name);
        roff_para(fp, tool_environment[i].help);
    }

    fputs(".SH FILES\n"
          ".TP\n"
          ".I share/bash\\-completion/completions/async\\-auditor\n"
          "bash completion, under the installation prefix "
          "(/usr/local by default)\n"
          ".TP\n"
          ".I share/zsh/site\\-functions/_async\\-auditor\n"
          "zsh completion, under the same prefix\n"
          ".PP\n"
          "Rule files are named with \\fB\\-\\-config\\fR or as the operand "
          "of \\fBrules\\fR; without them the built-in rule pack is used, "
          "compiled into the program.\n",
          fp);

    fputs(".SH EXAMPLES\n", fp);
    for (size_t i = 0; tool_examples[i].comment != NULL; i++) {
        const char *c = tool_examples[i].command;

        fputs(i > 0 ? ".PP\n" : "", fp);
        roff_para(fp, tool_examples[i].comment);
        fputs(".PP\n.RS 4\n.EX\n", fp);
        while (*c != '\0') {
            size_t n = strcspn(c, "\n");

            snprintf(text, sizeof(text), "%.*s", (int)n, c);
            roff(fp, text);
            fputc('\n', fp);
            c += n + (c[n] == '\n');
        }
        fputs(".EE\n.RE\n", fp);
    }

    fputs(".SH SEE ALSO\n"
          ".BR prometheus (1),\n"
          ".BR promtool (1)\n"
          ".PP\n"
          "The rule file format, the report schemas and the default rule "
          "pack are described in the docs/ directory of "
          "async\\-runtime\\-auditor (cli.md, rules.md, report\\-json.md).\n",
          fp);
}

/* ---- shell completions ------------------------------------------------- */

/* Writes the options whose value is of kind k joined by sep ("--a|--b");
 * returns how many. */
static size_t option_list(FILE *fp, tool_value_kind k, const char *sep)
{
    size_t n = 0;

    for (size_t i = 0; i < tool_nopts; i++) {
        const tool_opt *o = &tool_opts[i];

        if (o->name == NULL || o->kind != k) {
            continue;
        }
        fprintf(fp, "%s--%s", n++ > 0 ? sep : "", o->name);
        if (o->short_name != 0) {
            fprintf(fp, "%s-%c", sep, o->short_name);
        }
    }
    return n;
}

static bool has_kind(tool_value_kind k)
{
    for (size_t i = 0; i < tool_nopts; i++) {
        if (tool_opts[i].name != NULL && tool_opts[i].kind == k) {
            return true;
        }
    }
    return false;
}

/* A bash "case" arm for the options of kind k (none: nothing). */
static void bash_arm(FILE *fp, const char *indent, tool_value_kind k,
                     const char *body)
{
    if (!has_kind(k)) {
        return;
    }
    fputs(indent, fp);
    option_list(fp, k, "|");
    fprintf(fp, ")\n%s", body);
}

static void word_list(FILE *fp, const tool_word *w)
{
    for (size_t i = 0; w[i].name != NULL; i++) {
        fprintf(fp, "%s%s", i > 0 ? " " : "", w[i].name);
    }
}

/* The distinct first words of the commands ("check rules version"), or
 * with word the subcommands under it ("lint export"). */
static void command_list(FILE *fp, const char *word)
{
    const char *words[16];
    size_t n = tool_command_words(word, words, 16);

    for (size_t i = 0; i < n; i++) {
        fprintf(fp, "%s%s", i > 0 ? " " : "", words[i]);
    }
}

static void gen_bash(FILE *fp)
{
    static const char skip_value[] =
        "            # its value: the next word, or \"=\" and the next\n"
        "            if [[ ${COMP_WORDS[i + 1]} == = ]]; then\n"
        "                ((i += 2))\n"
        "            else\n"
        "                ((i += 1))\n"
        "            fi\n"
        "            ;;\n";

    fputs("# bash completion for async-auditor(1), written by "
          "async-auditor-docgen\n"
          "# from src/auditor/tool_help.c (the table --help prints): edit "
          "that.\n\n"
          "_async_auditor()\n"
          "{\n"
          "    local cur prev opt value prefix= word cmd= i dashdash=0 "
          "nops=0\n"
          "    COMPREPLY=()\n"
          "    cur=${COMP_WORDS[COMP_CWORD]}\n"
          "    prev=\n"
          "    if ((COMP_CWORD > 0)); then\n"
          "        prev=${COMP_WORDS[COMP_CWORD - 1]}\n"
          "    fi\n\n"
          "    # the command words before the cursor, and where -- is\n"
          "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
          "        word=${COMP_WORDS[i]}\n"
          "        case $word in\n"
          "        --)\n"
          "            dashdash=$i\n"
          "            break\n"
          "            ;;\n",
          fp);
    bash_arm(fp, "        ", TOOL_VALUE_TEXT, skip_value);
    bash_arm(fp, "        ", TOOL_VALUE_FILE, skip_value);
    bash_arm(fp, "        ", TOOL_VALUE_FORMAT, skip_value);
    fputs("        -*) ;;\n"
          "        *)\n"
          "            cmd=\"${cmd:+$cmd }$word\"\n"
          "            ((nops += 1))\n"
          "            ;;\n"
          "        esac\n"
          "    done\n\n"
          "    if ((dashdash > 0)); then\n"
          "        if ((COMP_CWORD == dashdash + 1)); then\n"
          "            COMPREPLY=($(compgen -c -- \"$cur\"))\n"
          "        else\n"
          "            COMPREPLY=($(compgen -f -- \"$cur\"))\n"
          "        fi\n"
          "        return 0\n"
          "    fi\n\n"
          "    # the option whose value is being completed: \"--opt VALUE\",\n"
          "    # \"--opt=VALUE\" as one word, or split at \"=\" by bash\n"
          "    opt=$prev\n"
          "    value=$cur\n"
          "    if [[ $cur == --*=* ]]; then\n"
          "        opt=${cur%%=*}\n"
          "        value=${cur#*=}\n"
          "        prefix=$opt=\n"
          "    elif [[ $cur == = ]]; then\n"
          "        value=\n"
          "    elif [[ $prev == = ]] && ((COMP_CWORD > 1)); then\n"
          "        opt=${COMP_WORDS[COMP_CWORD - 2]}\n"
          "    fi\n"
          "    case $opt in\n",
          fp);
    bash_arm(fp, "    ", TOOL_VALUE_FILE,
             "        compopt -o filenames 2>/dev/null\n"
             "        COMPREPLY=($(compgen -f -P \"$prefix\" -- \"$value\"))\n"
             "        return 0\n"
             "        ;;\n");
    if (has_kind(TOOL_VALUE_FORMAT)) {
        fputs("    ", fp);
        option_list(fp, TOOL_VALUE_FORMAT, "|");
        fputs(")\n"
              "        if [[ $cmd == \"rules export\"* ]]; then\n"
              "            word=\"",
              fp);
        word_list(fp, tool_export_formats);
        fputs("\"\n"
              "        else\n"
              "            word=\"",
              fp);
        word_list(fp, tool_check_formats);
        fputs("\"\n"
              "        fi\n"
              "        COMPREPLY=($(compgen -P \"$prefix\" -W \"$word\" -- "
              "\"$value\"))\n"
              "        return 0\n"
              "        ;;\n",
              fp);
    }
    bash_arm(fp, "    ", TOOL_VALUE_TEXT,
             "        return 0\n"
             "        ;;\n");
    fputs("    esac\n\n"
          "    if [[ $cur == -* ]]; then\n"
          "        COMPREPLY=($(compgen -W \"",
          fp);
    for (int k = TOOL_VALUE_NONE; k <= TOOL_VALUE_FORMAT; k++) {
        if (option_list(fp, (tool_value_kind)k, " ") > 0) {
            fputc(' ', fp);
        }
    }
    fputs("--\" -- \"$cur\"))\n"
          "        return 0\n"
          "    fi\n"
          "    case $nops:$cmd in\n"
          "    0:)\n"
          "        COMPREPLY=($(compgen -W \"",
          fp);
    command_list(fp, NULL);
    fputs("\" -- \"$cur\"))\n"
          "        ;;\n"
          "    1:rules)\n"
          "        COMPREPLY=($(compgen -W \"",
          fp);
    command_list(fp, "rules");
    fputs("\" -- \"$cur\"))\n"
          "        ;;\n"
          "    2:rules\\ *)\n"
          "        compopt -o filenames 2>/dev/null\n"
          "        COMPREPLY=($(compgen -f -- \"$cur\"))\n"
          "        ;;\n"
          "    esac\n"
          "    return 0\n"
          "}\n"
          "complete -F _async_auditor async-auditor\n",
          fp);
}

/*
 * Writes the first clause of help (up to "; " or " (") as a zsh
 * _arguments description inside single quotes: ' closes and reopens the
 * quote, and [ ] : \ are escaped for _arguments.
 */
static void zsh_desc(FILE *fp, const char *help)
{
    size_t n = strlen(help);
    const char *cut = strstr(help, "; ");
    const char *paren = strstr(help, " (");

    if (cut != NULL && (size_t)(cut - help) < n) {
        n = (size_t)(cut - help);
    }
    if (paren != NULL && paren != help && (size_t)(paren - help) < n) {
        n = (size_t)(paren - help);
    }
    for (size_t i = 0; i < n; i++) {
        char c = help[i];

        if (c == '\'') {
            fputs("'\\''", fp);
        } else if (c == '[' || c == ']' || c == ':' || c == '\\') {
            fprintf(fp, "\\%c", c);
        } else {
            fputc(c, fp);
        }
    }
}

static void zsh_option(FILE *fp, const tool_opt *o)
{
    /* after ":ARG": no completion, file names, or the format state */
    static const char *const actions[] = {
        [TOOL_VALUE_NONE] = "",        [TOOL_VALUE_TEXT] = ": ",
        [TOOL_VALUE_FILE] = ":_files", [TOOL_VALUE_FORMAT] = ":->format",
        [TOOL_VALUE_COMMAND] = "",
    };
    bool exits = o->id == TOOL_OPT_HELP || o->id == TOOL_OPT_VERSION;

    fputs("    ", fp);
    if (o->short_name != 0 && exits) {
        fprintf(fp, "'(- *)'{-%c,--%s}", o->short_name, o->name);
    } else if (o->short_name != 0) {
        fprintf(fp, "'(-%c --%s)'{-%c%s,--%s%s}", o->short_name, o->name,
                o->short_name, o->arg != NULL ? "+" : "", o->name,
                o->arg != NULL ? "=" : "");
    } else {
        fprintf(fp, "'%s--%s%s", o->repeatable ? "*" : "", o->name,
                o->arg != NULL ? "=" : "");
    }
    fputs(o->short_name != 0 ? "'[" : "[", fp);
    zsh_desc(fp, o->help);
    fputc(']', fp);
    if (o->arg != NULL) {
        fprintf(fp, ":%s%s", o->arg, actions[o->kind]);
    }
    fputs("' \\\n", fp);
}

static void gen_zsh(FILE *fp)
{
    fputs("#compdef async-auditor\n"
          "# zsh completion for async-auditor(1), written by "
          "async-auditor-docgen\n"
          "# from src/auditor/tool_help.c (the table --help prints): edit "
          "that.\n\n"
          "_async_auditor() {\n"
          "    local curcontext=$curcontext state state_descr line ret=1\n"
          "    typeset -A opt_args\n\n"
          "    _arguments -C -S \\\n",
          fp);
    for (size_t i = 0; i < tool_nopts; i++) {
        if (tool_opts[i].name != NULL) {
            zsh_option(fp, &tool_opts[i]);
        }
    }
    fputs("    '1: :->command' \\\n"
          "    '2: :->subcommand' \\\n"
          "    '3: :->operand' \\\n"
          "    && ret=0\n\n"
          "    case $state in\n"
          "    command)\n"
          "        compadd -- ",
          fp);
    command_list(fp, NULL);
    fputs(" && ret=0\n"
          "        ;;\n"
          "    subcommand)\n"
          "        [[ $line[1] == rules ]] && compadd -- ",
          fp);
    command_list(fp, "rules");
    fputs(" && ret=0\n"
          "        ;;\n"
          "    operand)\n"
          "        [[ $line[1] == rules ]] && _files && ret=0\n"
          "        ;;\n"
          "    format)\n"
          "        if [[ $line[1] == rules ]]; then\n"
          "            compadd -- ",
          fp);
    word_list(fp, tool_export_formats);
    fputs(" && ret=0\n"
          "        else\n"
          "            compadd -- ",
          fp);
    word_list(fp, tool_check_formats);
    fputs(" && ret=0\n"
          "        fi\n"
          "        ;;\n"
          "    esac\n"
          "    return ret\n"
          "}\n\n"
          "if [[ $funcstack[1] == _async-auditor ]]; then\n"
          "    _async_auditor \"$@\"\n"
          "else\n"
          "    compdef _async_auditor async-auditor\n"
          "fi\n",
          fp);
}

int main(int argc, char **argv)
{
    const char *what = argc == 2 ? argv[1] : "";

    if (strcmp(what, "man") == 0) {
        gen_man(stdout);
    } else if (strcmp(what, "bash") == 0) {
        gen_bash(stdout);
    } else if (strcmp(what, "zsh") == 0) {
        gen_zsh(stdout);
    } else {
        fprintf(stderr, "usage: async-auditor-docgen man|bash|zsh\n");
        return AA_EXIT_USAGE;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "async-auditor-docgen: cannot write the output\n");
        return AA_EXIT_UNKNOWN;
    }
    return AA_EXIT_OK;
}
