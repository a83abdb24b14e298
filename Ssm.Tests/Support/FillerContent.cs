using System.Net;

namespace Ssm.Tests.Support;

/// <summary>A body of one repeated byte, produced as it is sent.</summary>
public sealed class FillerContent(long length, byte filler) : HttpContent
{
    protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
    {
        var chunk = Enumerable.Repeat(filler, 64 * 1024).ToArray();
        for (var sent = 0L; sent < length; sent += chunk.Length)
            await stream.WriteAsync(chunk.AsMemory(0, (int)Math.Min(chunk.Length, length - sent)));
    }

    protected override bool TryComputeLength(out long size)
    {
        size = length;
        return true;
    }
}
