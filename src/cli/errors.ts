/**
 * A failure the user can act on: printed as one line. Exit code 1 when the command ran and failed
 * (AWS refused or did not answer, something named does not exist), 2 for a usage error: a command
 * line or setting that is wrong or incomplete, found before anything is asked of AWS.
 */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}
