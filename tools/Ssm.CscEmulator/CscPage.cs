using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Ssm.CscEmulator;

/// <summary>
/// The operator's page at `/`: activation requests with Approve and Reject buttons, and the offline request file form. Basic auth; since a browser
/// resends Basic credentials on any site's form post, each form also carries this process's secret form token.
/// </summary>
public sealed class CscPage
{
    private readonly string _formToken = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    public static void Map(WebApplication app)
    {
        app.MapGet("/", Render);
        app.MapPost("/page/approve", ApproveForm);
        app.MapPost("/page/reject", RejectForm);
        app.MapPost("/page/offline", OfflineForm);
    }

    private static IResult Render(HttpContext http, CscStore store, CscEmulatorOptions options, CscPage page)
    {
        CscEndpoints.RequireOperator(http, options);
        var e = HtmlEncoder.Default;
        var html = new StringBuilder();
        html.Append("""
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><title>CSC emulator</title>
            <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}form{display:inline}</style>
            </head><body><h1>CSC emulator: activation requests</h1>
            """);
        html.Append($"<p>Approval: {(options.AutoApprove ? "auto" : "manual")}. Operator: {e.Encode(options.User)}.</p>\n");
        html.Append("<table><tr><th>Created (UTC)</th><th>Request</th><th>Account name</th><th>Contact</th><th>On-prem server</th><th>Status</th><th>Account / reason</th><th></th></tr>\n");
        foreach (var r in store.Requests(null))
        {
            html.Append($"<tr><td>{r.CreatedAt:yyyy-MM-dd HH:mm:ss}</td><td><code>{e.Encode(r.RequestId)}</code></td><td>{e.Encode(r.Name)}</td>");
            html.Append($"<td>{e.Encode(r.ContactEmail)}</td><td>{e.Encode(r.OnPremServer)}</td><td>{r.Status}</td>");
            html.Append($"<td>{e.Encode(r.AccountId ?? r.Reason ?? "")}</td><td>");
            if (r.Status == ActivationStatus.Pending)
            {
                var hidden = $"<input type=\"hidden\" name=\"requestId\" value=\"{e.Encode(r.RequestId)}\"><input type=\"hidden\" name=\"formToken\" value=\"{page._formToken}\">";
                html.Append($"<form method=\"post\" action=\"/page/approve\">{hidden}<button>Approve</button></form> ");
                html.Append($"<form method=\"post\" action=\"/page/reject\">{hidden}<input name=\"reason\" required placeholder=\"reason\"> <button>Reject</button></form>");
            }
            html.Append("</td></tr>\n");
        }
        html.Append("</table>\n<h2>Offline synchronization</h2>\n");
        html.Append("<form method=\"post\" action=\"/page/offline\" enctype=\"multipart/form-data\">");
        html.Append($"<input type=\"hidden\" name=\"formToken\" value=\"{page._formToken}\">");
        html.Append("Request file: <input type=\"file\" name=\"request\" accept=\".json,application/json\" required> <button>Download response file</button></form>\n");
        html.Append("</body></html>\n");
        return Results.Content(html.ToString(), "text/html; charset=utf-8");
    }

    private static async Task<IResult> ApproveForm(HttpContext http, CscStore store, CscEmulatorOptions options, CscPage page)
    {
        var form = await page.ReadFormAsync(http, options);
        store.Approve(form["requestId"].ToString());
        return Results.Redirect("/", preserveMethod: false);
    }

    private static async Task<IResult> RejectForm(HttpContext http, CscStore store, CscEmulatorOptions options, CscPage page)
    {
        var form = await page.ReadFormAsync(http, options);
        var reason = form["reason"].ToString().Trim();
        if (reason.Length == 0)
            throw CscError.Invalid("reason: missing");
        store.Reject(form["requestId"].ToString(), reason);
        return Results.Redirect("/", preserveMethod: false);
    }

    private static async Task<IResult> OfflineForm(HttpContext http, CscStore store, CscCatalogue catalogue, CscCertificates certificates,
        CscEmulatorOptions options, CscPage page)
    {
        CscEndpoints.AllowUploadSize(http);
        var form = await page.ReadFormAsync(http, options);
        var file = form.Files.GetFile("request") ?? throw CscError.Invalid("request: no file");
        await using var stream = file.OpenReadStream();
        var response = await CscOffline.ProcessAsync(stream, store, catalogue, certificates, options, http.RequestAborted);
        return Results.File(JsonSerializer.SerializeToUtf8Bytes(response, CscStore.Json), "application/json", "ssm-offline-response.json");
    }

    private async Task<IFormCollection> ReadFormAsync(HttpContext http, CscEmulatorOptions options)
    {
        CscEndpoints.RequireOperator(http, options);
        if (!http.Request.HasFormContentType)
            throw CscError.Invalid("a form post is expected");
        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var token = Encoding.UTF8.GetBytes(form["formToken"].ToString());
        if (!CryptographicOperations.FixedTimeEquals(token, Encoding.UTF8.GetBytes(_formToken)))
            throw CscError.Invalid("formToken: stale or missing; reload the page");
        return form;
    }
}
