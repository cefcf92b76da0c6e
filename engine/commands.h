/* commands: the subcommands of the `rapport` binary, one file each (cmd_<name>.c). */
#ifndef RP_COMMANDS_H
#define RP_COMMANDS_H

/* Each takes the arguments after the subcommand name (argv[0] is the subcommand) and returns the
 * process exit status: 0 success, 1 runtime failure, 2 usage error. */
int rp_cmd_run(int argc, char **argv);
int rp_cmd_score(int argc, char **argv);
int rp_cmd_demo(int argc, char **argv);
int rp_cmd_gen(int argc, char **argv);

#endif
