namespace Ssm.Web.Components.Shared;

public enum PageMove
{
    First,
    Previous,
    Next,
    Last,
}

/// <summary>
/// Which page of a keyset-paged list a page shows (decision 0034): its number, and the cursor or end it was asked
/// for by, which is also how it reloads itself when the data changes.
/// </summary>
public sealed record SeekPosition(int PageNumber = 1, string? After = null, string? Before = null, bool Last = false)
{
    public static readonly SeekPosition First = new();

    /// <summary>The position one move away from the page shown; null when there is nowhere to go.</summary>
    public SeekPosition? Move(PageMove move, int pageNumber, int pageCount, string? previous, string? next) => move switch
    {
        PageMove.First => First,
        PageMove.Previous when previous is not null => new SeekPosition(Math.Max(1, pageNumber - 1), Before: previous),
        PageMove.Next when next is not null => new SeekPosition(Math.Max(pageNumber + 1, 2), After: next),
        PageMove.Last => new SeekPosition(Math.Max(1, pageCount), Last: true),
        _ => null,
    };
}
