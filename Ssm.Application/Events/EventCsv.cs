using System.Globalization;
using System.Text;

namespace Ssm.Application.Events;

/// <summary>
/// The Event Log as CSV (RFC 4180: comma separated, CRLF line ends, a field with a quote, comma or line break
/// quoted and its quotes doubled). A cell that a spreadsheet would read as a formula (starting with = + - @, a tab
/// or a carriage return) is prefixed with a single quote, as OWASP's CSV injection advice says: the Event Log holds
/// text that anyone who can fail a login chooses (the user name).
/// </summary>
public static class EventCsv
{
    public const string Header = "At,Actor,Category,Action,Subject,Outcome,Detail\r\n";

    public static void AppendRow(StringBuilder line, EventDto e)
    {
        AppendCell(line, e.At.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture)).Append(',');
        AppendCell(line, e.Actor).Append(',');
        AppendCell(line, e.Category.ToString()).Append(',');
        AppendCell(line, e.Action).Append(',');
        AppendCell(line, e.Subject).Append(',');
        AppendCell(line, e.Outcome.ToString()).Append(',');
        AppendCell(line, e.Detail).Append("\r\n");
    }

    public static StringBuilder AppendCell(StringBuilder line, string value)
    {
        var formula = value.Length > 0 && value[0] is '=' or '+' or '-' or '@' or '\t' or '\r';
        var quote = formula || value.AsSpan().IndexOfAny("\",\r\n") >= 0;
        if (!quote)
            return line.Append(value);
        line.Append('"');
        if (formula)
            line.Append('\'');
        return line.Append(value.Replace("\"", "\"\"")).Append('"');
    }
}
