using System.Text;
using Ssm.Application.Events;
using Ssm.Domain.Events;

namespace Ssm.Tests.Features.Events;

public sealed class EventCsvTests
{
    private static string Cell(string value) => EventCsv.AppendCell(new StringBuilder(), value).ToString();

    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("", "")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    [InlineData("two\nlines", "\"two\nlines\"")]
    [InlineData("cr\rhere", "\"cr\rhere\"")]
    public void Quotes_commas_and_line_breaks_are_quoted(string value, string expected) => Cell(value).ShouldBe(expected);

    [Theory]
    [InlineData("=1+1", "\"'=1+1\"")]
    [InlineData("+41 79", "\"'+41 79\"")]
    [InlineData("-2+3", "\"'-2+3\"")]
    [InlineData("@SUM(A1:A2)", "\"'@SUM(A1:A2)\"")]
    [InlineData("\t=cmd", "\"'\t=cmd\"")]
    [InlineData("=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"")]
    public void Cells_a_spreadsheet_would_run_as_a_formula_are_prefixed_with_a_quote(string value, string expected) =>
        Cell(value).ShouldBe(expected);

    [Fact]
    public void A_row_has_the_header_s_seven_columns_in_utc()
    {
        var at = new DateTimeOffset(2026, 12, 4, 5, 6, 7, TimeSpan.FromHours(2)).AddTicks(1234567);
        var line = new StringBuilder();
        EventCsv.AppendRow(line, new EventDto(at, "alice", EventCategory.Accounts, "CreateAccount", "Lab, 1", EventOutcome.Failure, "no"));
        line.ToString().ShouldBe("2026-12-04T03:06:07.1234567Z,alice,Accounts,CreateAccount,\"Lab, 1\",Failure,no\r\n");
        EventCsv.Header.ShouldBe("At,Actor,Category,Action,Subject,Outcome,Detail\r\n");
    }
}
