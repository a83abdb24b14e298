using System.Buffers;

namespace Ssm.Web.Endpoints;

/// <summary>Reading a body whole, for endpoints that parse or sign it, without ever holding more than they accept.</summary>
public static class RequestBodies
{
    /// <summary>The body, or null when it is longer than <paramref name="maxBytes"/> (declared or sent).</summary>
    public static async Task<byte[]?> ReadAtMostAsync(HttpRequest request, int maxBytes)
    {
        if (request.ContentLength > maxBytes)
            return null;
        var reader = request.BodyReader;
        while (true)
        {
            var read = await reader.ReadAsync(request.HttpContext.RequestAborted);
            if (read.Buffer.Length > maxBytes)
            {
                reader.AdvanceTo(read.Buffer.End);
                return null;
            }
            if (read.IsCompleted)
            {
                var body = read.Buffer.ToArray();
                reader.AdvanceTo(read.Buffer.End);
                return body;
            }
            reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
        }
    }
}
